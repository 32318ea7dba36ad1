// 2. Order pipeline, and 5. memory: the whole shop (seven services, Postgres,
//    Kafka) on this machine, orders placed through the gateway at a fixed
//    arrival rate (open model: a slow system does not slow the offered load).
//    - capacity: the rate is stepped up until more than 1% of the orders placed
//      in a step fail (an HTTP error, or not CONFIRMED within the bound);
//    - latency: POST /orders until the order is CONFIRMED, at 50 orders/s and at
//      half the capacity. CONFIRMED is read from the orders database (the
//      order's updated_at when the saga finished); the client also waits for
//      each order's outcome the way a real one does (GET with Prefer: wait);
//    - cost: per confirmed order, the CPU of every service, of Postgres and of
//      the broker, and the commits and WAL flushes (bench/lib/costs.ts);
//    - memory: each service's resident set idle, and its peak under all of that;
//    - pgbench on the same Postgres, the storage ceiling the pipeline sits on.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ShopClient, type SmokeConfig } from '@shop/smoke';
import {
  DEFAULT_ADMIN_EMAIL,
  DEFAULT_ADMIN_PASSWORD,
  SERVICE_NODE_OPTIONS,
  type ServiceName,
  serviceNames,
} from '@shop/stack';
import { infra } from '@shop/testkit';
import pg from 'pg';
import { Pool } from 'undici';
import { costPerOrder, costSnapshot, type OrderCost } from './lib/costs.js';
import { sh } from './lib/proc.js';
import { mainProfileIn, type ProfileSummary, summarizeProfile } from './lib/profile.js';
import { type BenchStack, startBenchStack } from './lib/stack.js';
import { type Latencies, latencies } from './lib/stats.js';
import { memoryOf, resetPeak } from './lib/system.js';
import { type StorageReport, storageBenchmark } from './storage.js';

export interface OrdersOptions {
  runDir: string;
  prefix: string;
  /** Offered rates of the capacity search, in orders/s, tried in order until one fails. */
  rates: number[];
  stepSeconds: number;
  latencySeconds: number;
  /** An order not CONFIRMED this long after its POST counts as failed. */
  confirmBoundMs: number;
  /** Start every service with --cpu-prof, profiles under runDir/orders/profiles. */
  cpuProfile: boolean;
  /** compiled: the services' dist/ JavaScript, as their images run it; source: through tsx. */
  runtime: 'source' | 'compiled';
  pgbenchSeconds: number;
  /** Rounds of the storage comparison (bench/storage.ts), before the shop starts. */
  storageRounds: number;
  say: (line: string) => void;
}

export interface StepResult {
  offeredPerSecond: number;
  placed: number;
  accepted: number;
  httpErrors: number;
  confirmedInBound: number;
  /** Orders that ended CANCELLED (none expected: stock is ample, every payment approves). */
  cancelled: number;
  late: number;
  errorRate: number;
  confirmedPerSecond: number;
  /** POST to CONFIRMED, in ms, over the orders that were confirmed. */
  latency: Latencies;
  /** POST to 202, in ms. */
  acceptLatency: Latencies;
  /** What one confirmed order cost, over the step (its arrivals and their outcomes). */
  cost?: OrderCost;
  ok: boolean;
}

export interface MemoryResult {
  service: ServiceName;
  idleMiB: number;
  peakMiB: number;
}

export interface OrdersReport {
  setup: Record<string, unknown>;
  steps: StepResult[];
  maxSustainedPerSecond: number;
  /** The shop's cost per second doing nothing, after the warm-up (same fields, per second instead of per order). */
  idle?: OrderCost;
  latencyRuns: StepResult[];
  memory: MemoryResult[];
  pgbench: { tps: number; clients: number; scale: number; seconds: number; latencyMs: number } | undefined;
  storage?: StorageReport;
  profiles?: string;
  /** With --cpu-prof: where each service's busy time went (after its start-up). */
  profileSummaries?: Partial<Record<ServiceName, ProfileSummary>>;
}

const PRODUCTS = 8;
const CUSTOMERS = 40;
/** How long the shop is measured doing nothing, after the warm-up. */
const IDLE_SECONDS = 10;

export async function ordersBenchmark(options: OrdersOptions): Promise<OrdersReport> {
  const { say } = options;
  const dir = join(options.runDir, 'orders');
  const profileDir = join(dir, 'profiles');
  say(
    'orders: one saga step five ways (Prisma models, SQL through Prisma, node-postgres, the saga now alone and in batches), CPU per step',
  );
  const storage = await storageBenchmark({ rounds: options.storageRounds, transactionsPerRound: 300, say });
  say(
    `orders: ${storage.results.map((r) => `${r.way} ${r.cpuMsPerTransaction.toFixed(2)} ms CPU`).join(', ')} per saga step`,
  );
  say('orders: starting the shop (fresh databases, own topics)');
  const system = await startBenchStack({
    label: 'orders',
    logDir: join(dir, 'logs'),
    prefix: options.prefix,
    runtime: options.runtime,
    // No collector runs here; the gateway benchmark measures what tracing costs.
    env: { OTEL_SDK_DISABLED: 'true' },
    serviceEnv: Object.fromEntries(
      serviceNames.map((name) => [
        name,
        {
          // Every customer here shares one IP; 40 customers at 300 orders/s are 450 per minute each.
          ...(name === 'gateway' ? { RATE_LIMIT_PER_MINUTE: '100000' } : {}),
        },
      ]),
    ),
    // Node refuses --cpu-prof in NODE_OPTIONS: it goes on each service's command line.
    ...(options.cpuProfile
      ? {
          nodeArgs: Object.fromEntries(
            serviceNames.map((name) => [name, ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`]]),
          ),
        }
      : {}),
  });
  const ordersDb = new pg.Pool({ connectionString: system.databases.orders.url, max: 2 });
  const monitor = new MemoryMonitor(system);
  try {
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const idle = monitor.snapshot();
    say(
      `orders: idle RSS ${Object.entries(idle)
        .map(([n, m]) => `${n} ${Math.round(m)}`)
        .join(', ')} MiB`,
    );

    const baseUrl = system.stack.url('gateway');
    const config = {
      baseUrl,
      adminEmail: DEFAULT_ADMIN_EMAIL,
      adminPassword: DEFAULT_ADMIN_PASSWORD,
      orderTimeoutMs: 60_000,
    };
    const admin = await ShopClient.admin(config);
    const products = await Promise.all(
      Array.from({ length: PRODUCTS }, () => admin.createProduct(10_000_000, 1999)),
    );
    const customers: string[] = [];
    for (let i = 0; i < CUSTOMERS; i += 8) {
      customers.push(...(await Promise.all(Array.from({ length: 8 }, () => signUp(config)))));
    }
    const http = new Pool(baseUrl, { connections: 512, keepAliveTimeout: 60_000 });
    const databaseNames = Object.values(system.databases).map((db) => db.name);
    const costs = () => costSnapshot(system.pids(), ordersDb, databaseNames);
    const run = (rate: number, seconds: number) =>
      orderStep({
        http,
        ordersDb,
        products: products.map((p) => p.id),
        customers,
        rate,
        seconds,
        options,
        costs,
      });

    // Each step starts from an empty pipeline: a backlog left by an overloaded step
    // would otherwise be charged to the next, lower or not.
    const drained = async () => {
      const started = Date.now();
      while (Date.now() - started < 180_000) {
        const { rows } = await ordersDb.query<{ n: string }>(
          `SELECT count(*) AS n FROM orders WHERE status = 'PENDING'`,
        );
        if (Number(rows[0]?.n) === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      say('orders: orders still PENDING after 180 s; going on anyway');
    };
    say('orders: warming up at 5 orders/s for 10 s');
    await run(5, 10);
    await drained();
    // What the shop costs doing nothing (consumers fetching, heartbeats, relays and sweepers
    // polling): the part of a step's cost per order that does not shrink with the rate.
    const quietBefore = await costs();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const idleCost = costPerOrder(quietBefore, await costs(), IDLE_SECONDS);
    say(
      `orders: idle CPU ${idleCost.nodeMs} ms/s in Node (${Object.entries(idleCost.nodeMsByService)
        .map(([n, ms]) => `${n} ${ms}`)
        .join(', ')}), Postgres ${idleCost.postgresMs}, Kafka ${idleCost.kafkaMs}`,
    );
    monitor.resetPeaks();
    monitor.start();

    const steps: StepResult[] = [];
    for (const rate of options.rates) {
      await drained();
      const step = await run(rate, options.stepSeconds);
      steps.push(step);
      say(`orders: ${describeStep(step)}`);
      if (!step.ok) break;
    }
    const passed = steps.filter((s) => s.ok);
    const maxSustainedPerSecond =
      passed.length > 0 ? Math.max(...passed.map((s) => s.confirmedPerSecond)) : 0;
    const bestOffered = passed.length > 0 ? Math.max(...passed.map((s) => s.offeredPerSecond)) : 0;

    // At the target's 50/s, and at half the capacity found (when one was found at all).
    const half = Math.round(bestOffered / 2);
    const latencyRates = [...new Set([50, ...(half > 0 ? [half] : [])])].sort((a, b) => a - b);
    const latencyRuns: StepResult[] = [];
    for (const rate of latencyRates) {
      await drained();
      const step = await run(rate, options.latencySeconds);
      latencyRuns.push(step);
      say(`orders: latency run ${describeStep(step)}`);
    }
    monitor.stop();
    const peaks = monitor.peaks();
    const memory = serviceNames.map((service) => ({
      service,
      idleMiB: idle[service] ?? Number.NaN,
      // The idle reading is part of the run too (RSS can shrink after a collection under load).
      peakMiB: Math.max(idle[service] ?? 0, peaks[service] ?? Number.NaN),
    }));
    await http.close();

    say(`orders: pgbench for ${options.pgbenchSeconds} s`);
    const pgbench = await runPgbench(options.pgbenchSeconds).catch((error: Error) => {
      say(`orders: pgbench failed: ${error.message}`);
      return undefined;
    });
    return {
      setup: {
        services: serviceNames.join(', '),
        path: 'POST /api/v1/orders through the gateway (signed-in customer, Idempotency-Key, 1 item, tok_visa), then GET /api/v1/orders/:id with Prefer: wait=8 until it is final, as a client learns the outcome; CONFIRMED time read from the orders database',
        cost: 'per confirmed order over a step: CPU of the seven service processes (Node), of the whole Postgres instance and of the Kafka broker, from /proc; transactions committed in the shop’s databases (pg_stat_database.xact_commit) and WAL flushes (pg_stat_wal.wal_sync)',
        customers: CUSTOMERS,
        products: `${PRODUCTS}, 10,000,000 in stock each (nothing runs out)`,
        arrival: 'open model: requests start on a fixed schedule whatever the system does',
        stepSeconds: options.stepSeconds,
        latencySeconds: options.latencySeconds,
        confirmBoundMs: options.confirmBoundMs,
        failure: `an HTTP error, a CANCELLED order, or no CONFIRMED within ${options.confirmBoundMs} ms of the POST`,
        logging: 'LOG_LEVEL=info (an access-log line per request, JSON to a file)',
        durability:
          'synchronous_commit = on for the shop’s databases (the development server’s default is off): a commit waits for its WAL flush, as in production; the relay’s “published” marks alone commit without waiting (a lost mark only re-sends a duplicate)',
        tracing: 'OTEL_SDK_DISABLED=true (no collector runs here)',
        memory:
          'VmRSS from /proc, idle 10 s after every service was ready; peak = the highest of VmHWM (reset after the warm-up) and 0.5 s samples',
        heap: `NODE_OPTIONS=${SERVICE_NODE_OPTIONS} in every service, as the chart's nodeOptions`,
        linger: `CONSUMER_LINGER=${process.env.CONSUMER_LINGER ?? '35ms (the default)'}: the least time from a consumer's fetch to its next; OUTBOX_LINGER=${process.env.OUTBOX_LINGER ?? '0ms (the default)'}: between two relay claims`,
        cpuProfile: options.cpuProfile,
        runtime:
          options.runtime === 'compiled'
            ? 'compiled: node --import @shop/platform/instrument dist/main.js, as in the images'
            : 'source: TypeScript through tsx, as make dev runs it',
      },
      steps,
      maxSustainedPerSecond,
      idle: idleCost,
      latencyRuns,
      memory,
      pgbench,
      storage,
      ...(options.cpuProfile ? { profiles: profileDir } : {}),
    };
  } finally {
    monitor.stop();
    await ordersDb.end().catch(() => undefined);
    say('orders: stopping the shop');
    await system.stop();
  }
}

/** The services' profiles (written as they stopped), summarized past their start-up. */
export function summarizeOrderProfiles(report: OrdersReport): OrdersReport {
  if (!report.profiles) return report;
  const summaries: Partial<Record<ServiceName, ProfileSummary>> = {};
  for (const name of serviceNames) {
    const file = mainProfileIn(join(report.profiles, name));
    if (file) summaries[name] = summarizeProfile(file, 30, 15);
  }
  return { ...report, profileSummaries: summaries };
}

/** A new customer's access token. */
async function signUp(config: SmokeConfig): Promise<string> {
  const anonymous = new ShopClient(config);
  const email = `bench-${randomUUID()}@example.com`;
  const password = `pw-${randomUUID()}`;
  const registered = await anonymous.call('POST', '/api/v1/auth/register', {
    body: { email, password, name: 'Bench' },
  });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  const login = await anonymous.call<{ accessToken: string }>('POST', '/api/v1/auth/login', {
    body: { email, password },
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return login.body.accessToken;
}

export function describeStep(step: StepResult): string {
  const cost = step.cost
    ? `; per order: Node ${step.cost.nodeMs} ms, Postgres ${step.cost.postgresMs} ms, Kafka ${step.cost.kafkaMs} ms CPU, ${step.cost.commits} commits, ${step.cost.walSyncs} WAL flushes`
    : '';
  return `${step.offeredPerSecond}/s offered: ${step.confirmedPerSecond.toFixed(1)}/s confirmed in bound, errors ${(
    step.errorRate * 100
  ).toFixed(2)}% (http ${step.httpErrors}, late ${step.late}, cancelled ${step.cancelled}), p50 ${
    step.latency.p50
  } ms, p99 ${step.latency.p99} ms${cost}${step.ok ? '' : '  FAIL'}`;
}

interface Placed {
  sentAt: number;
  acceptedAt: number;
  status: number;
  id?: string;
}

async function orderStep(input: {
  http: Pool;
  ordersDb: pg.Pool;
  products: string[];
  customers: string[];
  rate: number;
  seconds: number;
  options: OrdersOptions;
  costs: () => ReturnType<typeof costSnapshot>;
}): Promise<StepResult> {
  const { http, ordersDb, products, customers, rate, seconds, options } = input;
  const before = await input.costs();
  const outcomes: Promise<void>[] = [];
  const total = Math.round(rate * seconds);
  const placed: Placed[] = [];
  const inFlight: Promise<void>[] = [];
  const place = (i: number) => {
    const sentAt = Date.now();
    const body = JSON.stringify({
      items: [{ productId: products[i % products.length]!, quantity: 1 }],
      payment: { token: 'tok_visa' },
    });
    return http
      .request({
        method: 'POST',
        path: '/api/v1/orders',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${customers[i % customers.length]!}`,
          'idempotency-key': randomUUID(),
        },
        body,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      })
      .then(async (response) => {
        const text = await response.body.text();
        const entry: Placed = { sentAt, acceptedAt: Date.now(), status: response.statusCode };
        if (response.statusCode === 202) {
          entry.id = (JSON.parse(text) as { id: string }).id;
          outcomes.push(awaitOutcome(http, customers[i % customers.length]!, entry.id, sentAt + 60_000));
        }
        placed.push(entry);
      })
      .catch(() => {
        placed.push({ sentAt, acceptedAt: Date.now(), status: 0 });
      });
  };
  // Requests start on schedule; a timer that fires late starts every request that is due.
  const start = performance.now();
  let next = 0;
  while (next < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (next < due) inFlight.push(place(next++));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);

  const ids = placed.flatMap((p) => (p.id ? [p.id] : []));
  await Promise.all(outcomes);
  // Wait for the stragglers, but no longer than the bound allows them to count.
  const deadline = Date.now() + options.confirmBoundMs + 2000;
  while (Date.now() < deadline) {
    const { rows } = await ordersDb.query<{ n: string }>(
      `SELECT count(*) AS n FROM orders WHERE id = ANY($1::uuid[]) AND status = 'PENDING'`,
      [ids],
    );
    if (Number(rows[0]?.n) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const { rows } = await ordersDb.query<{ id: string; status: string; t: number }>(
    `SELECT id, status, (extract(epoch FROM updated_at) * 1000)::float8 AS t FROM orders WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  const final = new Map(rows.map((row) => [row.id, row]));
  const confirmLatencies: number[] = [];
  let cancelled = 0;
  let late = 0;
  for (const p of placed) {
    if (!p.id) continue;
    const row = final.get(p.id);
    if (row?.status === 'CANCELLED') cancelled++;
    else if (row?.status === 'CONFIRMED' && row.t - p.sentAt <= options.confirmBoundMs)
      confirmLatencies.push(Math.max(0, row.t - p.sentAt));
    else late++;
  }
  const httpErrors = placed.filter((p) => p.status !== 202).length;
  const errors = httpErrors + cancelled + late;
  const confirmed = rows.filter((row) => row.status === 'CONFIRMED').length;
  const cost = costPerOrder(before, await input.costs(), confirmed);
  return {
    offeredPerSecond: rate,
    placed: total,
    accepted: ids.length,
    httpErrors,
    confirmedInBound: confirmLatencies.length,
    cancelled,
    late,
    errorRate: errors / total,
    confirmedPerSecond: confirmLatencies.length / seconds,
    latency: latencies(confirmLatencies),
    acceptLatency: latencies(placed.filter((p) => p.status === 202).map((p) => p.acceptedAt - p.sentAt)),
    cost,
    ok: errors / total < 0.01,
  };
}

/** Waits for an order's outcome as a client does: GET with Prefer: wait until it is final (or the deadline). */
async function awaitOutcome(http: Pool, token: string, id: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const response = await http.request({
        method: 'GET',
        path: `/api/v1/orders/${id}`,
        headers: { authorization: `Bearer ${token}`, prefer: 'wait=8' },
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      const body = (await response.body.json()) as { status?: string };
      if (response.statusCode === 200 && body.status !== 'PENDING') return;
      if (response.statusCode !== 200) await new Promise((resolve) => setTimeout(resolve, 500));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Resident memory of every service: sampled every 0.5 s, and the kernel's own high-water mark. */
class MemoryMonitor {
  #timer: NodeJS.Timeout | undefined;
  readonly #max = new Map<ServiceName, number>();

  constructor(readonly system: BenchStack) {}

  snapshot(): Partial<Record<ServiceName, number>> {
    const pids = this.system.pids();
    return Object.fromEntries(serviceNames.map((name) => [name, memoryOf(pids[name])?.rssMiB ?? Number.NaN]));
  }

  resetPeaks(): void {
    for (const pid of Object.values(this.system.pids())) resetPeak(pid);
  }

  start(): void {
    this.#timer = setInterval(() => this.#sample(), 500);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sample(): void {
    const pids = this.system.pids();
    for (const name of serviceNames) {
      const memory = memoryOf(pids[name]);
      if (!memory) continue;
      this.#max.set(name, Math.max(this.#max.get(name) ?? 0, memory.rssMiB, memory.hwmMiB));
    }
  }

  peaks(): Partial<Record<ServiceName, number>> {
    this.#sample();
    return Object.fromEntries(this.#max);
  }
}

/** pgbench's TPC-B-like transactions on a scratch database of the same Postgres: what storage alone can do. */
async function runPgbench(seconds: number) {
  const admin = new URL(infra().adminDatabaseUrl);
  const database = `bench_pgbench_${process.pid}`;
  const env = {
    ...process.env,
    PGHOST: admin.hostname,
    PGPORT: admin.port || '5432',
    PGUSER: decodeURIComponent(admin.username) || 'postgres',
    ...(admin.password ? { PGPASSWORD: decodeURIComponent(admin.password) } : {}),
  };
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  await client.query(`CREATE DATABASE ${database}`);
  const clients = 8;
  const scale = 10;
  try {
    await sh('pgbench', ['-i', '-q', '-s', String(scale), database], { env });
    const { stdout } = await sh(
      'pgbench',
      ['-c', String(clients), '-j', '2', '-T', String(seconds), '-n', database],
      { env },
    );
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
    const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1] ?? Number.NaN);
    return { tps, clients, scale, seconds, latencyMs };
  } finally {
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await client.end();
  }
}
