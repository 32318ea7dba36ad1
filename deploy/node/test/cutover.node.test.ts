// Blue-green cutovers under live load, on real kube-proxy: the load generator
// (tools/load) sends realistic traffic through the gateway's Service while
// `bluegreen deploy` and `bluegreen rollback` run for orders, then for the gateway
// itself. Nothing may fail: no HTTP error, every order final as its kind says,
// and the invariants the chaos runs check (packages/stack/src/invariants.ts).
//
// It also measures, from the pods' own request counters sampled every 100 ms,
// how long after the selector patch the first request reached the new color and
// the last one the old color (printed, and written for `make bench`; never asserted).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkInvariants, formatInvariants, type StockSnapshot } from '@shop/stack';
import { infra } from '@shop/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  activeColor,
  bluegreen,
  cluster,
  clusterIp,
  colorSelector,
  DB_SERVICES,
  databaseUrl,
  eventually,
  gatewayUrl,
  imageAlias,
  type KubeObject,
  PORTS,
  pods,
  repoRoot,
  shop,
} from './support.js';

const k = cluster();
const s = shop();
type Color = 'blue' | 'green';
const other = (color: Color): Color => (color === 'blue' ? 'green' : 'blue');
/** The routes that are traffic (not the kubelet's probes or a scrape). */
const QUIET = /route="\/(health|metrics)/;

/** Requests a pod has answered, probes and scrapes left out. */
async function served(podIp: string, port: number): Promise<number> {
  const text = await (
    await fetch(`http://${podIp}:${port}/metrics`, { signal: AbortSignal.timeout(2000) })
  ).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('http_server_request_duration_seconds_count{') && !QUIET.test(line)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

interface CutoverFigures {
  service: string;
  action: 'deploy' | 'rollback';
  from: Color;
  to: Color;
  /** ms from the selector patch (as the API server's watch reported it). */
  firstNewMs: number | null;
  lastOldMs: number | null;
  commandMs: number;
}

/**
 * Runs one bluegreen command while sampling the selector and every pod's counter; returns
 * when the new color has served traffic and the old color has served nothing for 5 s.
 */
async function cutover(
  service: string,
  action: 'deploy' | 'rollback',
  image?: string,
): Promise<CutoverFigures> {
  const from = await activeColor(k, s, service);
  const to = other(from);
  const port = PORTS[service]!;
  const samples: { at: number; color: Color; count: number; pod: string }[] = [];
  let patchedAt: number | undefined;
  const service0 = await k.get<KubeObject>(['service', `${s.release}-${service}`, '-n', s.namespace]);
  const watch = k.watch(
    `/api/v1/namespaces/${s.namespace}/services`,
    service0.metadata.resourceVersion!,
    ({ object }) => {
      if (
        object.metadata.name === `${s.release}-${service}` &&
        object.spec?.selector?.['shop.example/color'] === to
      ) {
        patchedAt ??= Date.now();
      }
    },
  );
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const at = Date.now();
      for (const color of [from, to]) {
        for (const pod of await pods(k, s, colorSelector(s, service, color))) {
          if (pod.status.phase !== 'Running' || !pod.status.podIP) continue;
          const count = await served(pod.status.podIP, port).catch(() => undefined);
          if (count !== undefined) samples.push({ at, color, count, pod: pod.metadata.name });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const started = Date.now();
  const args =
    action === 'deploy' ? ['deploy', service, '--image', image!, '--timeout', '5m'] : ['rollback', service];
  const result = await bluegreen(s, args);
  const commandMs = Date.now() - started;
  expect(result.code, `bluegreen ${args.join(' ')}:\n${result.stderr}`).toBe(0);
  expect(await activeColor(k, s, service)).toBe(to);

  // Until the old color has been quiet for 5 s (keep-alive connections must have moved).
  const lastIncrease = (color: Color) => {
    let last: number | undefined;
    const previous = new Map<string, number>();
    for (const sample of samples.filter((x) => x.color === color)) {
      const before = previous.get(sample.pod);
      if (
        before !== undefined &&
        sample.count > before &&
        (patchedAt === undefined || sample.at >= patchedAt)
      ) {
        last = sample.at;
      }
      previous.set(sample.pod, sample.count);
    }
    return last;
  };
  await eventually(
    `${service}: the old color ${from} quiet for 5 s`,
    async () => {
      const last = lastIncrease(from) ?? patchedAt ?? 0;
      return patchedAt !== undefined && Date.now() - last > 5000 ? true : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  sampling = false;
  await sampler;
  watch.stop();

  let firstNew: number | undefined;
  const baseline = new Map<string, number>();
  for (const sample of samples.filter((x) => x.color === to)) {
    if (patchedAt !== undefined && sample.at < patchedAt) {
      baseline.set(sample.pod, sample.count);
      continue;
    }
    const before = baseline.get(sample.pod) ?? sample.count;
    if (sample.count > before) {
      firstNew = sample.at;
      break;
    }
    baseline.set(sample.pod, before);
  }
  const lastOld = lastIncrease(from);
  return {
    service,
    action,
    from,
    to,
    firstNewMs: patchedAt !== undefined && firstNew !== undefined ? firstNew - patchedAt : null,
    lastOldMs: patchedAt !== undefined && lastOld !== undefined ? Math.max(0, lastOld - patchedAt) : null,
    commandMs,
  };
}

/** The load generator's products, at the stock they were created with (their SKU says which kind). */
async function loadProductsStock(scarceStock: number): Promise<StockSnapshot> {
  const client = new pg.Client({ connectionString: databaseUrl(s, 'inventory') });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; sku: string }>(
      "SELECT id, sku FROM products WHERE sku LIKE 'LOAD-%'",
    );
    return new Map(rows.map((row) => [row.id, /-P\d+$/.test(row.sku) ? 1_000_000 : scarceStock]));
  } finally {
    await client.end();
  }
}

describe('cutovers under live load', () => {
  it('bluegreen deploy and rollback of orders and of the gateway fail no request and finish every order', async () => {
    const base = await gatewayUrl(k, s);
    const secret = await k.get<KubeObject>(['secret', `${s.release}-admin`, '-n', s.namespace]);
    const decode = (key: string) => Buffer.from(secret.data[key], 'base64').toString();
    const scarceStock = 3;
    // Orders that end by themselves quickly (the timeout kind waits out the saga's 60 s
    // deadline); sign-ins and sign-ups kept low (one client address, the auth limit).
    const load = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        join(repoRoot, 'tools/load/src/cli.ts'),
        '--base-url',
        base,
        '--rate',
        '4',
        '--duration',
        '0',
        '--order-mix',
        'visa=60,ship=25,decline=10,out-of-stock=5',
        '--mix',
        'browse=2,product=3,my-orders=0.3,notifications=0.2',
        '--customers',
        '20',
        '--connections',
        '16',
        '--scarce-stock',
        String(scarceStock),
        '--drain',
        '90s',
        '--interval',
        '5s',
        '--output',
        'json',
        '--admin-email',
        decode('email'),
        '--admin-password',
        decode('password'),
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let progress = '';
    load.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    load.stderr.on('data', (chunk) => {
      progress += chunk;
    });
    const exited = new Promise<number | null>((resolve) => load.on('close', resolve));
    await eventually(
      'the load generator placing orders',
      async () => (/orders/.test(progress) ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 10_000));

    const figures: CutoverFigures[] = [];
    for (const service of ['orders', 'gateway']) {
      figures.push(await cutover(service, 'deploy', await imageAlias(s, service, 'cutover')));
      figures.push(await cutover(service, 'rollback'));
    }

    load.kill('SIGTERM');
    const code = await exited;
    expect(code, progress.slice(-3000)).toBe(0);
    const summary = JSON.parse(stdout);
    const unexpected = Object.values(summary.orders.byKind as Record<string, { unexpected: number }>).reduce(
      (n, kind) => n + kind.unexpected,
      0,
    );
    const report = [
      `load: ${summary.http.requests} requests, ${summary.http.errors} errors, ${summary.orders.accepted} orders accepted, ` +
        `${summary.orders.confirmed} confirmed, ${summary.orders.cancelled} cancelled, ${summary.orders.unfinished} unfinished`,
      ...figures.map(
        (f) =>
          `${f.service} ${f.action} ${f.from} -> ${f.to}: first request on ${f.to} ${f.firstNewMs ?? '-'} ms after the selector patch, ` +
          `last on ${f.from} ${f.lastOldMs ?? '-'} ms after it (command ${f.commandMs} ms)`,
      ),
    ].join('\n');
    process.stdout.write(`${report}\n`);
    // For make bench (BENCH=cutover-node), which runs this file; kept in .run/logs otherwise.
    const figuresFile = process.env.SHOP_CUTOVER_FIGURES ?? join(repoRoot, '.run/logs/cutover-node.json');
    mkdirSync(dirname(figuresFile), { recursive: true });
    writeFileSync(
      figuresFile,
      `${JSON.stringify({ at: new Date().toISOString(), load: summary, cutovers: figures }, null, 2)}\n`,
    );

    // What the gateways said about any request that failed, for the message if one did.
    let gatewayErrors = '';
    if (summary.http.errors > 0) {
      for (const pod of await pods(k, s, colorSelector(s, 'gateway'))) {
        const logs = await k.kubectl(['logs', '-n', s.namespace, pod.metadata.name]).catch(() => '');
        gatewayErrors += logs
          .split('\n')
          .filter((line) => /"status":5\d\d|"level":(50|40)/.test(line))
          .map((line) => `${pod.metadata.name}: ${line}`)
          .join('\n');
      }
    }
    expect(summary.http.errors, `${JSON.stringify(summary.http.errorsByClass)}\n${gatewayErrors}`).toBe(0);
    expect(summary.orders.accepted).toBeGreaterThan(0);
    expect(summary.orders.unfinished).toBe(0);
    expect(unexpected).toBe(0);
    for (const f of figures)
      expect(f.firstNewMs, `${f.service} ${f.action}: the new color served`).not.toBeNull();

    const admin = new URL(infra().adminDatabaseUrl);
    const provider = await k.get<KubeObject>(['secret', `${s.release}-payment-provider`, '-n', s.namespace]);
    const sources = {
      databases: Object.fromEntries(DB_SERVICES.map((name) => [name, databaseUrl(s, name)])) as Record<
        (typeof DB_SERVICES)[number],
        string
      >,
      providerUrl: `http://${await clusterIp(k, s, 'payment-provider')}:${PORTS['payment-provider']}`,
      providerApiKey: Buffer.from(provider.data['api-key'], 'base64').toString(),
      kafkaBrokers: infra().kafkaBrokers,
      topicPrefix: s.topicPrefix,
    };
    expect(admin.hostname).toBe('127.0.0.1');
    const initialStock = await loadProductsStock(scarceStock);
    expect(initialStock.size).toBeGreaterThan(0);
    const invariants = await eventually(
      'the invariants',
      async () => {
        const results = await checkInvariants(sources, initialStock);
        return results.every((r) => r.ok) ? results : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 3000 },
    ).catch(async (error) => {
      process.stdout.write(`${formatInvariants(await checkInvariants(sources, initialStock))}\n`);
      throw error;
    });
    expect(invariants.every((r) => r.ok)).toBe(true);
  });
});
