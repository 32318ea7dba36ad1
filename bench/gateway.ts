// 1. Gateway overhead: one small JSON upstream (plain node:http) reached
//    (a) directly, (b) through nginx, (c) through Express + http-proxy-middleware,
//    (d) through the gateway with rate limiting and tracing off and no token
//        (a public route, so no token is verified), and
//    (e) through the gateway with all of it on: a valid access token checked
//        against a real JWKS, an active (never reached) rate limit, and traces
//        exported over OTLP/HTTP to a local receiver.
// autocannon drives every configuration the same way; the configurations take
// turns, run after run, so a busy spell of the machine hits them alike. Next to
// req/s each run records the CPU time the server under test used per request,
// which a busy neighbour on this shared machine disturbs far less.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { infra, repoRoot } from '@shop/testkit';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { autocannon, type LoadResult } from './lib/autocannon.js';
import { deleteTopics } from './lib/kafka.js';
import { freePort, groupPids, pinGroup, type Started, startProcess, waitForHttp } from './lib/proc.js';
import { mainProfileIn, type ProfileSummary, summarizeProfile } from './lib/profile.js';
import { type Repeated, repeated } from './lib/stats.js';
import { cpuSecondsOf, cpuShares, cpuTimes } from './lib/system.js';

export const GATEWAY_CONFIGS = [
  { id: 'direct', label: '(a) direct', short: 'direct' },
  { id: 'nginx', label: '(b) nginx', short: 'nginx' },
  { id: 'express', label: '(c) Express + http-proxy-middleware', short: 'Express+hpm' },
  { id: 'gateway-bare', label: '(d) gateway: auth, rate limit, tracing off', short: 'gateway bare' },
  { id: 'gateway-full', label: '(e) gateway: auth, rate limit, tracing on', short: 'gateway full' },
] as const;
export type GatewayConfigId = (typeof GATEWAY_CONFIGS)[number]['id'];

export interface GatewayOptions {
  runDir: string;
  repetitions: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Pin the server under test to CPU 0 and the load generator (and everything else) to CPU 1. */
  pin: boolean;
  /** Run the two gateways and Express with --cpu-prof and summarize where their time went. */
  cpuProfile: boolean;
  /** compiled: the gateway's dist/ JavaScript, as its image runs it; source: through tsx. */
  runtime: 'source' | 'compiled';
  say: (line: string) => void;
}

export interface GatewayConfigResult {
  id: GatewayConfigId;
  label: string;
  requestsPerSecond: Repeated;
  p50Ms: Repeated;
  p99Ms: Repeated;
  /** CPU used by the server under test per second of the run (1 = one core busy). */
  serverCpuCores: Repeated;
  /** CPU time of the server under test per request, in microseconds. */
  serverCpuMicrosPerRequest: Repeated;
  /** Hypervisor steal during the runs; absent in results written before it was measured. */
  steal?: Repeated;
  non2xx: number;
  errors: number;
  runs: LoadResult[];
}

export interface GatewayReport {
  setup: Record<string, unknown>;
  configs: GatewayConfigResult[];
  ratios: {
    fullOverExpress: Repeated;
    fullOverBare: Repeated;
    /** The same ratios from CPU time per request (the inverse: cost of (c) or (d) over cost of (e)). */
    fullOverExpressByCpu: Repeated;
    fullOverBareByCpu: Repeated;
  };
  tracing: { exportRequests: number; exportBytes: number };
  profiles?: Partial<Record<GatewayConfigId, ProfileSummary>>;
}

// A public route for (a)-(d); (e) asks for a protected one, which refuses a request without a valid token.
const PATH = '/api/v1/products/6f1c2a8e-3b7d-4c52-9a0e-2d4b8f61c7a3';
const PROTECTED_PATH = '/api/v1/orders/6f1c2a8e-3b7d-4c52-9a0e-2d4b8f61c7a3';

/** A users-like key set: one Ed25519 key made here, published at /.well-known/jwks.json. */
async function jwksServer(): Promise<{ server: Server; url: string; token: string }> {
  const kid = randomUUID();
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  const server = createServer((request, response) => {
    if (request.url === '/.well-known/jwks.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else response.writeHead(404).end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  // As the users service issues them (iss, aud, sub, role), valid for longer than the run.
  const token = await new SignJWT({ role: 'customer' })
    .setProtectedHeader({ alg: 'EdDSA', kid })
    .setSubject(randomUUID())
    .setIssuer('shop-users')
    .setAudience('shop')
    .setIssuedAt()
    .setExpirationTime('3h')
    .sign(privateKey);
  return { server, url: `http://127.0.0.1:${port}/.well-known/jwks.json`, token };
}

/** What an OpenTelemetry collector's OTLP/HTTP receiver would be: accepts every export, counts it. */
async function otlpReceiver(): Promise<{
  server: Server;
  url: string;
  stats: () => { requests: number; bytes: number };
}> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    request.on('end', () => {
      requests++;
      // An empty ExportTraceServiceResponse is a zero-length protobuf message.
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${port}`, stats: () => ({ requests, bytes }) };
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

function tsxProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  logFile: string,
  flags: string[] = [],
) {
  return startProcess({
    name,
    command: process.execPath,
    args: [...flags, '--conditions=source', '--import', 'tsx', script],
    env,
    cwd: repoRoot,
    logFile,
  });
}

export async function gatewayBenchmark(options: GatewayOptions): Promise<GatewayReport> {
  const { runDir, say } = options;
  const dir = join(runDir, 'gateway');
  mkdirSync(dir, { recursive: true });
  const started: Started[] = [];
  const servers: Server[] = [];
  const topicPrefix = `bench.gateway.${randomBytes(4).toString('hex')}.`;
  const profileDir = (name: string) => join(dir, 'profiles', name);
  const profileFlags = (name: string) =>
    options.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(name)}`] : [];
  const spawnedAt = performance.now();
  let measuringFrom = spawnedAt;
  try {
    const jwks = await jwksServer();
    const otlp = await otlpReceiver();
    servers.push(jwks.server, otlp.server);

    const ports = {
      upstream: await freePort(),
      nginx: await freePort(),
      express: await freePort(),
      bare: await freePort(),
      full: await freePort(),
    };
    const upstreamUrl = `http://127.0.0.1:${ports.upstream}`;
    const upstream = tsxProcess(
      'upstream',
      'bench/baselines/upstream.ts',
      { PORT: String(ports.upstream) },
      join(dir, 'upstream.log'),
    );
    started.push(upstream);

    const nginxDir = join(dir, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    const conf = readFileSync(join(repoRoot, 'bench/baselines/nginx.conf'), 'utf8')
      .replaceAll('{{RUN_DIR}}', nginxDir)
      .replaceAll('{{PORT}}', String(ports.nginx))
      .replaceAll('{{UPSTREAM_PORT}}', String(ports.upstream));
    writeFileSync(join(nginxDir, 'nginx.conf'), conf);
    const nginx = startProcess({
      name: 'nginx',
      command: 'nginx',
      args: ['-p', nginxDir, '-e', join(nginxDir, 'nginx-error.log'), '-c', join(nginxDir, 'nginx.conf')],
      logFile: join(dir, 'nginx.log'),
    });
    started.push(nginx);

    const express = tsxProcess(
      'express',
      'bench/baselines/express-proxy.ts',
      { PORT: String(ports.express), UPSTREAM_URL: upstreamUrl, NODE_ENV: 'production' },
      join(dir, 'express.log'),
      profileFlags('express'),
    );
    started.push(express);

    const gatewayEnv = (port: number, full: boolean): Record<string, string> => ({
      SERVICE_NAME: 'gateway',
      HOST: '127.0.0.1',
      PORT: String(port),
      // The production default: one access-log line per request, to a file as a container runtime would.
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      SERVICE_TOKEN_SECRETS: randomBytes(32).toString('base64url'),
      KAFKA_BROKERS: infra().kafkaBrokers.join(','),
      KAFKA_TOPIC_PREFIX: topicPrefix,
      KAFKA_TOPIC_PARTITIONS: '1',
      USERS_URL: upstreamUrl,
      INVENTORY_URL: upstreamUrl,
      ORDERS_URL: upstreamUrl,
      NOTIFICATIONS_URL: upstreamUrl,
      JWKS_URL: jwks.url,
      RATE_LIMIT_ENABLED: String(full),
      // Active (counted, headers sent) but never reached.
      RATE_LIMIT_PER_MINUTE: '1000000000',
      ...(full
        ? {
            OTEL_TRACES_EXPORTER: 'otlp',
            OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          }
        : { OTEL_SDK_DISABLED: 'true' }),
    });
    // Started exactly as its image starts it: telemetry loaded first.
    const gatewayProcess = (name: string, port: number, full: boolean) =>
      startProcess({
        name,
        command: process.execPath,
        args: [
          ...profileFlags(name),
          ...(options.runtime === 'compiled'
            ? ['--import', '@shop/platform/instrument', 'dist/main.js']
            : [
                '--import',
                'tsx',
                '--conditions=source',
                '--import',
                '@shop/platform/instrument',
                'src/main.ts',
              ]),
        ],
        env: gatewayEnv(port, full),
        cwd: join(repoRoot, 'services/gateway'),
        logFile: join(dir, `${name}.log`),
      });
    const bare = gatewayProcess('gateway-bare', ports.bare, false);
    const full = gatewayProcess('gateway-full', ports.full, true);
    started.push(bare, full);

    say('gateway: starting the upstream, nginx, Express and two gateways');
    await waitForHttp(`${upstreamUrl}/`, { process: upstream });
    await waitForHttp(`http://127.0.0.1:${ports.nginx}${PATH}`, { process: nginx });
    await waitForHttp(`http://127.0.0.1:${ports.express}${PATH}`, { process: express });
    for (const [gateway, port] of [
      [bare, ports.bare],
      [full, ports.full],
    ] as const) {
      await waitForHttp(`http://127.0.0.1:${port}/health/live`, { process: gateway });
      // Ready once the deny-list has caught up with Kafka and the keys are fetched.
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, { process: gateway });
    }

    const targets: Record<
      GatewayConfigId,
      { url: string; server: Started; headers?: Record<string, string> }
    > = {
      direct: { url: `${upstreamUrl}${PATH}`, server: upstream },
      nginx: { url: `http://127.0.0.1:${ports.nginx}${PATH}`, server: nginx },
      express: { url: `http://127.0.0.1:${ports.express}${PATH}`, server: express },
      'gateway-bare': { url: `http://127.0.0.1:${ports.bare}${PATH}`, server: bare },
      'gateway-full': {
        url: `http://127.0.0.1:${ports.full}${PROTECTED_PATH}`,
        server: full,
        headers: { authorization: `Bearer ${jwks.token}` },
      },
    };
    await checkTargets(targets);

    const cpusOf = (id: GatewayConfigId) => {
      if (!options.pin) return;
      return async () => {
        for (const process of started)
          await pinGroup(process.pid, process === targets[id].server ? '0' : '1');
      };
    };
    const measure = async (id: GatewayConfigId, seconds: number) => {
      await cpusOf(id)?.();
      const target = targets[id];
      const cpuBefore = groupCpu(target.server.pid);
      const machineBefore = cpuTimes();
      const startedAt = performance.now();
      const result = await autocannon({
        url: target.url,
        connections: options.connections,
        durationSeconds: seconds,
        ...(target.headers ? { headers: target.headers } : {}),
        ...(options.pin ? { cpus: '1' } : {}),
      });
      const cpu = groupCpu(target.server.pid) - cpuBefore;
      const cores = cpu / ((performance.now() - startedAt) / 1000);
      const steal = cpuShares(machineBefore, cpuTimes())?.steal ?? Number.NaN;
      return { result, cores, cpuMicrosPerRequest: (cpu * 1e6) / result.requests, steal };
    };

    // Profiles are written when a process exits: stop the profiled ones, then read them past the warm-up.
    const summarizeProfiles = async () => {
      const profiled = { express, 'gateway-bare': bare, 'gateway-full': full } as const;
      await Promise.all(Object.values(profiled).map((p) => p.stop(120_000)));
      const skip = (measuringFrom - spawnedAt) / 1000;
      const summaries: Partial<Record<GatewayConfigId, ProfileSummary>> = {};
      for (const [id, p] of Object.entries(profiled)) {
        const file = mainProfileIn(profileDir(p.name));
        if (file) summaries[id as GatewayConfigId] = summarizeProfile(file, skip);
      }
      return summaries;
    };

    say(`gateway: warming up each configuration for ${options.warmupSeconds} s`);
    for (const config of GATEWAY_CONFIGS) await measure(config.id, options.warmupSeconds);

    const runs = new Map<
      GatewayConfigId,
      { result: LoadResult; cores: number; cpuMicrosPerRequest: number; steal: number }[]
    >(GATEWAY_CONFIGS.map((c) => [c.id, []]));
    measuringFrom = performance.now();
    for (let r = 1; r <= options.repetitions; r++) {
      for (const config of GATEWAY_CONFIGS) {
        const run = await measure(config.id, options.durationSeconds);
        runs.get(config.id)!.push(run);
        say(
          `gateway: run ${r}/${options.repetitions} ${config.short.padEnd(13)} ${Math.round(
            run.result.requestsPerSecond,
          )
            .toString()
            .padStart(
              6,
            )} req/s  p50 ${run.result.p50Ms} ms  p99 ${run.result.p99Ms} ms  server CPU ${run.cores.toFixed(2)} cores, ${Math.round(run.cpuMicrosPerRequest)} µs/req, steal ${Math.round(run.steal * 100)}%`,
        );
      }
    }

    const configs = GATEWAY_CONFIGS.map((config): GatewayConfigResult => {
      const list = runs.get(config.id)!;
      return {
        id: config.id,
        label: config.label,
        requestsPerSecond: repeated(list.map((x) => x.result.requestsPerSecond)),
        p50Ms: repeated(list.map((x) => x.result.p50Ms)),
        p99Ms: repeated(list.map((x) => x.result.p99Ms)),
        serverCpuCores: repeated(list.map((x) => x.cores)),
        serverCpuMicrosPerRequest: repeated(list.map((x) => x.cpuMicrosPerRequest)),
        /** The hypervisor's steal during each run (share of all CPUs' time). */
        steal: repeated(list.map((x) => x.steal)),
        non2xx: list.reduce((sum, x) => sum + x.result.non2xx, 0),
        errors: list.reduce((sum, x) => sum + x.result.errors + x.result.timeouts, 0),
        runs: list.map((x) => x.result),
      };
    });
    // Ratios per repetition (runs of one repetition ran back to back), then their median.
    const perRun = (a: GatewayConfigId, b: GatewayConfigId) =>
      repeated(
        runs
          .get(a)!
          .map((run, i) => run.result.requestsPerSecond / runs.get(b)![i]!.result.requestsPerSecond),
      );
    const profiles = options.cpuProfile ? await summarizeProfiles() : undefined;
    const perRunCpu = (a: GatewayConfigId, b: GatewayConfigId) =>
      repeated(runs.get(a)!.map((run, i) => runs.get(b)![i]!.cpuMicrosPerRequest / run.cpuMicrosPerRequest));
    return {
      setup: {
        tool: 'autocannon 9 (CLI, --json), one process',
        connections: options.connections,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        repetitions: options.repetitions,
        pinning: options.pin
          ? 'server under test on CPU 0 (all threads, taskset -a); autocannon, the upstream and every other process on CPU 1'
          : 'none',
        path: `GET ${PATH} ((e): GET ${PROTECTED_PATH}, a route that needs a signed-in user)`,
        upstream: 'plain node:http, a 133-byte JSON document, keep-alive',
        nginx: 'Debian nginx, 1 worker, keepalive 128 to the upstream, access_log off',
        express: 'Express 5 + http-proxy-middleware 3, keep-alive agent (maxSockets 128), nothing else',
        gatewayRuntime:
          options.runtime === 'compiled'
            ? 'compiled: node --import @shop/platform/instrument dist/main.js, as in its image'
            : 'source: TypeScript through tsx, as make dev runs it',
        gatewayBare:
          'RATE_LIMIT_ENABLED=false, OTEL_SDK_DISABLED=true, no Authorization header on a public route (no token is verified; the upstream still gets an anonymous service token); LOG_LEVEL=info access log to a file',
        gatewayFull:
          'a valid EdDSA access token (JWKS from a local server, key made for the run) on every request: verified once, then served from the gateway’s verified-token cache; rate limit on at 1e9/min (counted, headers sent, never reached); OpenTelemetry SDK with the auto-instrumentations, BatchSpanProcessor exporting OTLP/HTTP protobuf to a local receiver that accepts and counts; LOG_LEVEL=info',
      },
      configs,
      ratios: {
        fullOverExpress: perRun('gateway-full', 'express'),
        fullOverBare: perRun('gateway-full', 'gateway-bare'),
        fullOverExpressByCpu: perRunCpu('gateway-full', 'express'),
        fullOverBareByCpu: perRunCpu('gateway-full', 'gateway-bare'),
      },
      tracing: { exportRequests: otlp.stats().requests, exportBytes: otlp.stats().bytes },
      ...(profiles ? { profiles } : {}),
    };
  } finally {
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all(servers.map(close));
    await deleteTopics(topicPrefix);
  }
}

function groupCpu(pgid: number): number {
  return groupPids(pgid).reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/** Each configuration answers 200 with the upstream's JSON, and the rate limit is on exactly where it should be. */
async function checkTargets(
  targets: Record<GatewayConfigId, { url: string; headers?: Record<string, string> }>,
): Promise<void> {
  for (const [id, target] of Object.entries(targets)) {
    const response = await fetch(target.url, { headers: target.headers ?? {} });
    const body = (await response.json()) as { sku?: string };
    if (response.status !== 200 || body.sku !== 'BENCH-1') {
      throw new Error(`${id}: ${target.url} answered ${response.status} ${JSON.stringify(body)}`);
    }
    const limited = response.headers.get('x-ratelimit-limit') !== null;
    if (id === 'gateway-full' && !limited)
      throw new Error('gateway-full: no X-RateLimit-Limit, the limiter is off');
    if (id === 'gateway-bare' && limited)
      throw new Error('gateway-bare: X-RateLimit-Limit present, the limiter is on');
    if (id === 'gateway-full') {
      const anonymous = await fetch(target.url);
      await anonymous.arrayBuffer();
      if (anonymous.status !== 401)
        throw new Error(`gateway-full: ${target.url} without a token answered ${anonymous.status}`);
    }
  }
}
