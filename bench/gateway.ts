// 1. Gateway overhead: one small JSON upstream (plain node:http) reached
//    (a) directly, (b) through nginx, (c) through Express + http-proxy-middleware,
//    (d) through the least a Node proxy does (node:http + undici, nothing else),
//    (e) through the gateway with rate limiting and tracing off and no token
//        (a public route, so no token is verified),
//    (f) through the gateway with all of it on: a valid access token checked
//        against a real JWKS, an active (never reached) rate limit, and traces
//        sampled as the chart samples them in production and exported over
//        OTLP/HTTP to a local receiver, and
//    (g) the same with every trace sampled.
// autocannon drives every configuration the same way; the configurations take
// turns, run after run, so a busy spell of the machine hits them alike. The
// figure that counts is the CPU time the server under test used per request,
// which a busy neighbour on this shared machine disturbs far less than req/s.
// After the rounds, (f) is offered half of its measured capacity at a fixed
// rate, for its latency when it is not saturated.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS, SERVICE_NODE_OPTIONS } from '@shop/stack';
import { infra, repoRoot } from '@shop/testkit';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { parse as parseYaml } from 'yaml';
import { autocannon, type LoadResult } from './lib/autocannon.js';
import { deleteTopics } from './lib/kafka.js';
import { otlpReceiver } from './lib/otlp-receiver.js';
import { freePort, groupPids, pinGroup, type Started, startProcess, waitForHttp } from './lib/proc.js';
import { mainProfileIn, type ProfileSummary, summarizeProfile } from './lib/profile.js';
import { type Repeated, repeated } from './lib/stats.js';
import { cpuSecondsOf, cpuShares, cpuTimes, memoryOf } from './lib/system.js';
import { vegeta } from './lib/vegeta.js';

export const GATEWAY_CONFIGS = [
  { id: 'direct', label: '(a) direct', short: 'direct' },
  { id: 'nginx', label: '(b) nginx', short: 'nginx' },
  { id: 'express', label: '(c) Express + http-proxy-middleware', short: 'Express+hpm' },
  {
    id: 'express-legacy',
    label: "(c') Express + http-proxy-middleware on an older Node",
    short: 'Express old',
  },
  { id: 'floor', label: '(d) node:http + undici, nothing else (the floor)', short: 'floor' },
  { id: 'gateway-bare', label: '(e) gateway: auth, rate limit, tracing off', short: 'gateway bare' },
  {
    id: 'gateway-full',
    label: '(f) gateway: auth, rate limit, tracing at production sampling',
    short: 'gateway full',
  },
  { id: 'gateway-full-always', label: '(g) gateway: the same, every trace sampled', short: 'full 100%' },
] as const;
export type GatewayConfigId = (typeof GATEWAY_CONFIGS)[number]['id'];

/** What each target compares with Express (by CPU per request), and the least it must reach. */
export const GATEWAY_TARGETS: { id: GatewayConfigId; cheaperThanExpress: number }[] = [
  { id: 'gateway-bare', cheaperThanExpress: 5 },
  { id: 'gateway-full', cheaperThanExpress: 4 },
  { id: 'gateway-full-always', cheaperThanExpress: 2.5 },
];
/** p99 of (f) at half its capacity, in ms. */
export const HALF_CAPACITY_P99_LIMIT_MS = 15;

export interface GatewayOptions {
  runDir: string;
  repetitions: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Pin the server under test to CPU 0 and the load generator (and everything else) to CPU 1. */
  pin: boolean;
  /** Run the gateways, the floor and Express with --cpu-prof and summarize where their time went. */
  cpuProfile: boolean;
  /** compiled: the gateway's dist/ JavaScript, as its image runs it; source: through tsx. */
  runtime: 'source' | 'compiled';
  /** Also run the Express baseline on this Node binary (e.g. the machine's older Node). */
  legacyNode?: string;
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
  /** Hypervisor steal during the runs. */
  steal: Repeated;
  non2xx: number;
  errors: number;
  runs: LoadResult[];
}

export interface GatewayReport {
  setup: Record<string, unknown>;
  configs: GatewayConfigResult[];
  /** Per configuration: Express's CPU per request ÷ its own, per round, then the median (how many times cheaper). */
  cheaperThanExpress: Partial<Record<GatewayConfigId, Repeated>>;
  /** (f) offered half of its capacity (its median req/s at saturation) at a fixed rate. */
  halfCapacity: {
    offeredPerSecond: number;
    result: LoadResult;
    serverCpuMicrosPerRequest: number;
    steal: number;
    /** VmHWM of (f) after the whole run, saturation included (absent in older reports). */
    peakRssMiB?: number;
  };
  /** OTLP exports each traced configuration sent. */
  tracing: Partial<Record<GatewayConfigId, { exportRequests: number; exportBytes: number }>>;
  profiles?: Partial<Record<GatewayConfigId, ProfileSummary>>;
}

// A public route for (a)-(e); (f) and (g) ask for a protected one, which refuses a request without a valid token.
const PATH = '/api/v1/products/6f1c2a8e-3b7d-4c52-9a0e-2d4b8f61c7a3';
const PROTECTED_PATH = '/api/v1/orders/6f1c2a8e-3b7d-4c52-9a0e-2d4b8f61c7a3';

/** The sampler the chart configures in production (values.yaml, telemetry.sampler), so the two cannot drift. */
export function productionSampling(): { OTEL_TRACES_SAMPLER: string; OTEL_TRACES_SAMPLER_ARG: string } {
  const values = parseYaml(readFileSync(join(repoRoot, 'deploy/helm/shop/values.yaml'), 'utf8')) as {
    telemetry: { sampler: { name: string; ratio: number } };
  };
  const { name, ratio } = values.telemetry.sampler;
  return { OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: String(ratio) };
}

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
  const configs = GATEWAY_CONFIGS.filter((c) => c.id !== 'express-legacy' || options.legacyNode);
  const sampling = productionSampling();
  const spawnedAt = performance.now();
  let measuringFrom = spawnedAt;
  try {
    const jwks = await jwksServer();
    const receivers = { 'gateway-full': await otlpReceiver(), 'gateway-full-always': await otlpReceiver() };
    servers.push(jwks.server, ...Object.values(receivers).map((r) => r.server));

    const upstreamUrl = `http://127.0.0.1:${await freePort()}`;
    const upstream = tsxProcess(
      'upstream',
      'bench/baselines/upstream.ts',
      { PORT: new URL(upstreamUrl).port },
      join(dir, 'upstream.log'),
    );
    started.push(upstream);

    const nginxPort = await freePort();
    const nginxDir = join(dir, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    const conf = readFileSync(join(repoRoot, 'bench/baselines/nginx.conf'), 'utf8')
      .replaceAll('{{RUN_DIR}}', nginxDir)
      .replaceAll('{{PORT}}', String(nginxPort))
      .replaceAll('{{UPSTREAM_PORT}}', new URL(upstreamUrl).port);
    writeFileSync(join(nginxDir, 'nginx.conf'), conf);
    const nginx = startProcess({
      name: 'nginx',
      command: 'nginx',
      args: ['-p', nginxDir, '-e', join(nginxDir, 'nginx-error.log'), '-c', join(nginxDir, 'nginx.conf')],
      logFile: join(dir, 'nginx.log'),
    });
    started.push(nginx);

    const baseline = async (name: string, script: string, node = process.execPath) => {
      const listen = await freePort();
      const server = startProcess({
        name,
        command: node,
        args: [...profileFlags(name), '--conditions=source', '--import', 'tsx', script],
        env: { PORT: String(listen), UPSTREAM_URL: upstreamUrl, NODE_ENV: 'production' },
        cwd: repoRoot,
        logFile: join(dir, `${name}.log`),
      });
      started.push(server);
      return { server, url: `http://127.0.0.1:${listen}${PATH}` };
    };
    const express = await baseline('express', 'bench/baselines/express-proxy.ts');
    const legacy = options.legacyNode
      ? await baseline('express-legacy', 'bench/baselines/express-proxy.ts', options.legacyNode)
      : undefined;
    const floor = await baseline('floor', 'bench/baselines/node-proxy.ts');

    const gatewayEnv = (listen: number, id: GatewayConfigId): Record<string, string> => {
      const traced = id === 'gateway-full' || id === 'gateway-full-always';
      return {
        SERVICE_NAME: 'gateway',
        HOST: '127.0.0.1',
        PORT: String(listen),
        // The production default: one access-log line per request, to a file as a container runtime would.
        LOG_LEVEL: 'info',
        NODE_ENV: 'production',
        // The production heap limits (the chart's nodeOptions).
        NODE_OPTIONS: SERVICE_NODE_OPTIONS,
        SERVICE_TOKEN_SECRETS: randomBytes(32).toString('base64url'),
        KAFKA_BROKERS: infra().kafkaBrokers.join(','),
        KAFKA_TOPIC_PREFIX: topicPrefix,
        KAFKA_TOPIC_PARTITIONS: '1',
        USERS_URL: upstreamUrl,
        INVENTORY_URL: upstreamUrl,
        ORDERS_URL: upstreamUrl,
        NOTIFICATIONS_URL: upstreamUrl,
        JWKS_URL: jwks.url,
        RATE_LIMIT_ENABLED: String(traced),
        // Active (counted, headers sent) but never reached.
        RATE_LIMIT_PER_MINUTE: '1000000000',
        ...(traced
          ? {
              OTEL_TRACES_EXPORTER: 'otlp',
              OTEL_EXPORTER_OTLP_ENDPOINT: receivers[id].url,
              OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
              ...(id === 'gateway-full' ? sampling : { OTEL_TRACES_SAMPLER: 'always_on' }),
            }
          : { OTEL_SDK_DISABLED: 'true' }),
      };
    };
    // Started exactly as its image starts it: telemetry loaded first.
    const gateway = async (id: GatewayConfigId) => {
      const listen = await freePort();
      const server = startProcess({
        name: id,
        command: process.execPath,
        args: [
          ...profileFlags(id),
          // Its production flags (the chart's services.gateway.nodeFlags).
          ...(SERVICE_NODE_FLAGS.gateway ?? []),
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
        env: gatewayEnv(listen, id),
        cwd: join(repoRoot, 'services/gateway'),
        logFile: join(dir, `${id}.log`),
      });
      started.push(server);
      return { server, origin: `http://127.0.0.1:${listen}` };
    };
    const bare = await gateway('gateway-bare');
    const full = await gateway('gateway-full');
    const always = await gateway('gateway-full-always');

    say(
      `gateway: starting the upstream, nginx, the baselines and three gateways (production sampling: ${sampling.OTEL_TRACES_SAMPLER} ${sampling.OTEL_TRACES_SAMPLER_ARG})`,
    );
    await waitForHttp(`${upstreamUrl}/`, { process: upstream });
    await waitForHttp(`http://127.0.0.1:${nginxPort}${PATH}`, { process: nginx });
    for (const baselineProcess of [express, legacy, floor]) {
      if (baselineProcess) await waitForHttp(baselineProcess.url, { process: baselineProcess.server });
    }
    for (const { server, origin } of [bare, full, always]) {
      await waitForHttp(`${origin}/health/live`, { process: server });
      // Ready once the deny-list has caught up with Kafka and the keys are fetched.
      await waitForHttp(`${origin}/health/ready`, { process: server });
    }

    const signedIn = { authorization: `Bearer ${jwks.token}` };
    const targets: Partial<
      Record<GatewayConfigId, { url: string; server: Started; headers?: Record<string, string> }>
    > = {
      direct: { url: `${upstreamUrl}${PATH}`, server: upstream },
      nginx: { url: `http://127.0.0.1:${nginxPort}${PATH}`, server: nginx },
      express: { url: express.url, server: express.server },
      ...(legacy ? { 'express-legacy': { url: legacy.url, server: legacy.server } } : {}),
      floor: { url: floor.url, server: floor.server },
      'gateway-bare': { url: `${bare.origin}${PATH}`, server: bare.server },
      'gateway-full': { url: `${full.origin}${PROTECTED_PATH}`, server: full.server, headers: signedIn },
      'gateway-full-always': {
        url: `${always.origin}${PROTECTED_PATH}`,
        server: always.server,
        headers: signedIn,
      },
    };
    const target = (id: GatewayConfigId) => targets[id]!;
    await checkTargets(targets);

    const measure = async (id: GatewayConfigId, seconds: number, rate?: number) => {
      if (options.pin) {
        for (const process of started) await pinGroup(process.pid, process === target(id).server ? '0' : '1');
      }
      const { url, server, headers } = target(id);
      const cpuBefore = groupCpu(server.pid);
      const machineBefore = cpuTimes();
      const startedAt = performance.now();
      const load = {
        url,
        connections: options.connections,
        durationSeconds: seconds,
        ...(headers ? { headers } : {}),
        ...(options.pin ? { cpus: '1' } : {}),
      };
      // A fixed rate needs an open model (bench/lib/vegeta.ts says why autocannon is not one).
      const result = rate ? await vegeta({ ...load, rate }) : await autocannon(load);
      const cpu = groupCpu(server.pid) - cpuBefore;
      const cores = cpu / ((performance.now() - startedAt) / 1000);
      const steal = cpuShares(machineBefore, cpuTimes())?.steal ?? Number.NaN;
      return { result, cores, cpuMicrosPerRequest: (cpu * 1e6) / result.requests, steal };
    };

    // Profiles are written when a process exits: stop the profiled ones, then read them past the warm-up.
    const summarizeProfiles = async () => {
      const profiled: Partial<Record<GatewayConfigId, Started>> = {
        express: express.server,
        floor: floor.server,
        'gateway-bare': bare.server,
        'gateway-full': full.server,
        'gateway-full-always': always.server,
      };
      await Promise.all(Object.values(profiled).map((p) => p.stop(120_000)));
      const skip = (measuringFrom - spawnedAt) / 1000;
      const summaries: Partial<Record<GatewayConfigId, ProfileSummary>> = {};
      for (const [id, p] of Object.entries(profiled)) {
        const file = mainProfileIn(profileDir(p.name));
        if (file) summaries[id as GatewayConfigId] = summarizeProfile(file, skip, 15);
      }
      return summaries;
    };

    say(`gateway: warming up each configuration for ${options.warmupSeconds} s`);
    for (const config of configs) await measure(config.id, options.warmupSeconds);

    type Run = Awaited<ReturnType<typeof measure>>;
    const runs = new Map<GatewayConfigId, Run[]>(configs.map((c) => [c.id, []]));
    measuringFrom = performance.now();
    for (let r = 1; r <= options.repetitions; r++) {
      for (const config of configs) {
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

    const results = configs.map((config): GatewayConfigResult => {
      const list = runs.get(config.id)!;
      return {
        id: config.id,
        label: config.label,
        requestsPerSecond: repeated(list.map((x) => x.result.requestsPerSecond)),
        p50Ms: repeated(list.map((x) => x.result.p50Ms)),
        p99Ms: repeated(list.map((x) => x.result.p99Ms)),
        serverCpuCores: repeated(list.map((x) => x.cores)),
        serverCpuMicrosPerRequest: repeated(list.map((x) => x.cpuMicrosPerRequest)),
        steal: repeated(list.map((x) => x.steal)),
        non2xx: list.reduce((sum, x) => sum + x.result.non2xx, 0),
        errors: list.reduce((sum, x) => sum + x.result.errors + x.result.timeouts, 0),
        runs: list.map((x) => x.result),
      };
    });
    // Per round (the configurations of one round ran back to back), then the median.
    const expressRuns = runs.get('express')!;
    const cheaperThanExpress = Object.fromEntries(
      configs.map((c) => [
        c.id,
        repeated(
          runs.get(c.id)!.map((run, i) => expressRuns[i]!.cpuMicrosPerRequest / run.cpuMicrosPerRequest),
        ),
      ]),
    ) as GatewayReport['cheaperThanExpress'];

    const capacity = results.find((c) => c.id === 'gateway-full')!.requestsPerSecond.median;
    say(`gateway: (f) at half its capacity, ${Math.round(capacity / 2)} req/s offered`);
    // Warmed up at that rate first, as every configuration is before its rounds.
    await measure('gateway-full', options.warmupSeconds, capacity / 2);
    const half = await measure('gateway-full', options.durationSeconds, capacity / 2);
    // Its peak over the whole run, saturation included: what the production flags cost in memory.
    const fullPeakRssMiB = memoryOf(full.server.pid)?.hwmMiB ?? Number.NaN;
    say(
      `gateway: (f) at ${Math.round(capacity / 2)} req/s offered: p50 ${half.result.p50Ms} ms, p99 ${half.result.p99Ms} ms, ${Math.round(half.cpuMicrosPerRequest)} µs/req, steal ${Math.round(half.steal * 100)}%`,
    );

    const profiles = options.cpuProfile ? await summarizeProfiles() : undefined;
    const exports = (id: 'gateway-full' | 'gateway-full-always') => ({
      exportRequests: receivers[id].stats().requests,
      exportBytes: receivers[id].stats().bytes,
    });
    return {
      setup: {
        tool: 'autocannon 9 (CLI, --json), one process',
        connections: options.connections,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        repetitions: options.repetitions,
        node: process.version,
        pinning: options.pin
          ? 'server under test on CPU 0 (all threads, taskset -a); autocannon, the upstream and every other process on CPU 1'
          : 'none',
        path: `GET ${PATH} ((f), (g): GET ${PROTECTED_PATH}, a route that needs a signed-in user)`,
        upstream: 'plain node:http, a 133-byte JSON document, keep-alive',
        heap: `our gateway with the production heap limits and flags, NODE_OPTIONS=${SERVICE_NODE_OPTIONS} and ${(SERVICE_NODE_FLAGS.gateway ?? []).join(' ')}; Express, nginx and the floor with Node's defaults`,
        logs: 'every server writes its own log file (stdout and stderr opened on the file, as a log driver takes them)',
        nginx: 'Debian nginx, 1 worker, keepalive 128 to the upstream, access_log off',
        express: 'Express 5 + http-proxy-middleware 3, keep-alive agent (maxSockets 128), nothing else',
        ...(options.legacyNode
          ? {
              expressLegacy: `the same Express baseline on ${options.legacyNode} (${nodeVersionOf(options.legacyNode)})`,
            }
          : {}),
        floor:
          'bench/baselines/node-proxy.ts: node:http, one undici dispatch per request on a keep-alive pool (128), the answer written back as it comes; nothing else',
        gatewayRuntime:
          options.runtime === 'compiled'
            ? 'compiled: node --import @shop/platform/instrument dist/main.js, as in its image'
            : 'source: TypeScript through tsx, as make dev runs it',
        gatewayBare:
          'RATE_LIMIT_ENABLED=false, OTEL_SDK_DISABLED=true, no Authorization header on a public route (no token is verified; the upstream still gets an anonymous service token); LOG_LEVEL=info access log',
        gatewayFull: `a valid EdDSA access token (JWKS from a local server, key made for the run) on every request: verified once, then served from the gateway’s verified-token cache; rate limit on at 1e9/min (counted, headers sent, never reached); tracing as in production: OTEL_TRACES_SAMPLER=${sampling.OTEL_TRACES_SAMPLER}, OTEL_TRACES_SAMPLER_ARG=${sampling.OTEL_TRACES_SAMPLER_ARG} (the chart's values.yaml), BatchSpanProcessor exporting OTLP/HTTP protobuf to a local receiver that accepts and counts; LOG_LEVEL=info`,
        gatewayFullAlways: 'as (f) with OTEL_TRACES_SAMPLER=always_on',
        halfCapacity:
          '(f) at a fixed offered rate of half its median req/s in the rounds, after a warm-up at that rate, same duration, at most the same connections: vegeta 12 (an open model, requests evenly spaced; autocannon --overallRate sends each second’s quota at full speed, then waits), pinned where autocannon runs',
      },
      configs: results,
      cheaperThanExpress,
      halfCapacity: {
        offeredPerSecond: capacity / 2,
        result: half.result,
        serverCpuMicrosPerRequest: half.cpuMicrosPerRequest,
        steal: half.steal,
        peakRssMiB: fullPeakRssMiB,
      },
      tracing: {
        'gateway-full': exports('gateway-full'),
        'gateway-full-always': exports('gateway-full-always'),
      },
      ...(profiles ? { profiles } : {}),
    };
  } finally {
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all(servers.map(close));
    await deleteTopics(topicPrefix);
  }
}

function nodeVersionOf(node: string): string {
  try {
    return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'version unknown';
  }
}

function groupCpu(pgid: number): number {
  return groupPids(pgid).reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/** Each configuration answers 200 with the upstream's JSON, and the rate limit is on exactly where it should be. */
async function checkTargets(
  targets: Partial<Record<GatewayConfigId, { url: string; headers?: Record<string, string> }>>,
): Promise<void> {
  for (const [id, target] of Object.entries(targets)) {
    const response = await fetch(target.url, { headers: target.headers ?? {} });
    const body = (await response.json()) as { sku?: string };
    if (response.status !== 200 || body.sku !== 'BENCH-1') {
      throw new Error(`${id}: ${target.url} answered ${response.status} ${JSON.stringify(body)}`);
    }
    const limited = response.headers.get('x-ratelimit-limit') !== null;
    const traced = id === 'gateway-full' || id === 'gateway-full-always';
    if (traced && !limited) throw new Error(`${id}: no X-RateLimit-Limit, the limiter is off`);
    if (id === 'gateway-bare' && limited)
      throw new Error('gateway-bare: X-RateLimit-Limit present, the limiter is on');
    if (traced) {
      const anonymous = await fetch(target.url);
      await anonymous.arrayBuffer();
      if (anonymous.status !== 401)
        throw new Error(`${id}: ${target.url} without a token answered ${anonymous.status}`);
    }
  }
}
