// The chaos scenario (`make chaos`, and a short one in the end-to-end tests):
// the whole system on a private Postgres and Kafka, realistic load through
// the gateway, and meanwhile a random service killed -9 every few seconds and
// restarted, the Kafka broker restarted once and Postgres once. Then the
// system settles and every invariant is checked from the databases, the
// provider's ledger and the dead-letter topic.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatInterval, type LoadSummary, loadOptions, runLoad, seededRandom } from '@shop/load';
import pg from 'pg';
import {
  describeConsumerGroups,
  diagnoseServices,
  formatDiagnosis,
  formatGroups,
  type GroupDiagnosis,
  type ServiceDiagnosis,
} from './chaos-diagnosis.js';
import {
  checkInvariants,
  formatInvariants,
  type InvariantResult,
  readDeadLetters,
  type StockSnapshot,
  stockSnapshot,
} from './invariants.js';
import { type GuessLog, guessInvariant, guessPasswords } from './login-guesser.js';
import { migrateDeploy } from './migrate.js';
import { repoRoot, runDir } from './paths.js';
import { freshSecrets } from './secrets.js';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from './seed.js';
import { type DatabaseService, databaseServices, type ServiceName, serviceNames } from './services.js';
import { Stack } from './stack.js';

/** Where the private infrastructure lives (scripts/chaos-infra.sh). */
export interface ChaosInfraSettings {
  runDir: string;
  pgPort: number;
  kafkaPort: number;
  kafkaControllerPort: number;
}

const portFromEnv = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

/** The ports can be moved with the variables scripts/chaos-infra.sh reads (a second checkout on one machine). */
export const defaultChaosInfra: ChaosInfraSettings = {
  runDir: join(runDir, 'chaos'),
  pgPort: portFromEnv('CHAOS_PG_PORT', 25432),
  kafkaPort: portFromEnv('CHAOS_KAFKA_PORT', 29092),
  kafkaControllerPort: portFromEnv('CHAOS_KAFKA_CONTROLLER_PORT', 29093),
};

/** The services a chaos run kills: all but the payment provider, which stands for a third party. */
export const chaosVictims = serviceNames.filter((name) => name !== 'payment-provider');

export interface ChaosOptions {
  /** How long the load and the faults run. */
  durationMs: number;
  ordersPerSecond: number;
  /** A kill every `killEveryMs` on average (uniform in half to one and a half times that). */
  killEveryMs: number;
  /** How long a killed service stays down before it is started again (uniform in 0.5–1.5×). */
  downMs: number;
  victims: readonly ServiceName[];
  /** Restart the broker at 30% of the run and Postgres at 60%. */
  restartInfra: boolean;
  /** After the load: how long the orders may take to finish and the invariants to hold. */
  settleMs: number;
  seed: number;
  infra: ChaosInfraSettings;
  /** Leave the private Postgres and Kafka running afterwards (faster next run). */
  keepInfra: boolean;
  /** compiled: the services' dist/ (built beforehand), as their images run; source (default): through tsx. */
  runtime?: 'source' | 'compiled';
  onProgress?: (line: string) => void;
}

export interface ChaosEvent {
  /** Seconds since the load's arrivals began. */
  atS: number;
  what: string;
  /** How long it took until the service (or broker, or database) answered again. */
  backAfterS: number;
}

/** What became of the accepted orders, read from the orders database after the run. */
export interface ChaosOutcomes {
  /** Orders with a good card (tok_visa) on a product with plenty of stock, shipped (v2) or not: each should confirm. */
  approvable: number;
  /** Of those, how many were cancelled because a step's deadline passed. */
  approvableTimedOut: number;
  /** Every order cancelled by TIMEOUT (good card or not), by the step whose deadline passed. */
  timedOutAt: Record<string, number>;
  /** Up to five of the approvable ones, each with its saga history (step changes, seconds after the order was placed). */
  timedOutHistories: string[];
  /** Seconds from accepted (the order row's creation) to final (its last update), over every finished order. */
  acceptedToFinal: { n: number; p50: number; p99: number; max: number };
}

export interface ChaosReport {
  ok: boolean;
  seed: number;
  durationS: number;
  settleS: number;
  kills: number;
  killsByService: Record<string, number>;
  /** Services that exited although nobody killed them (a finding, they were restarted too). */
  unplannedExits: ChaosEvent[];
  infraRestarts: ChaosEvent[];
  events: ChaosEvent[];
  /**
   * Per kill -9 of a service with Kafka consumers: seconds until the restarted process was ready,
   * which needs its consumers to have joined their groups and got partitions (it includes the
   * deliberate downtime, --down).
   */
  consumerRecovery: ConsumerRecovery;
  outcomes: ChaosOutcomes;
  load: LoadSummary;
  invariants: InvariantResult[];
  /** When an invariant failed: each service's readiness and the warnings and errors it logged. */
  diagnosis?: ServiceDiagnosis[];
  /** When an invariant failed: each consumer group's members, partitions and lag (or why not known). */
  groups?: GroupDiagnosis[] | string;
  logDir: string;
}

/** The services whose kill -9 leaves Kafka partitions without a consumer until the group notices. */
const CONSUMERS: readonly ServiceName[] = ['inventory', 'payments', 'shipping', 'orders', 'notifications'];

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface RecoveryFigures {
  n: number;
  p50: number;
  max: number;
}

/** Seconds from each kill -9 of a consumer until it was ready again with its partitions. */
export interface ConsumerRecovery extends RecoveryFigures {
  /**
   * The same over the kills whose window (kill until ready again) saw no broker or Postgres
   * restart. While the broker restarts no consumer can join its group, whoever was killed, so
   * those kills measure the broker's restart as much as the consumer's recovery.
   */
  apartFromRestarts: RecoveryFigures;
}

function recoveryFigures(seconds: readonly number[]): RecoveryFigures {
  const sorted = [...seconds].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: Math.round(percentile(sorted, 50) * 10) / 10,
    max: Math.round((sorted.at(-1) ?? Number.NaN) * 10) / 10,
  };
}

/** Recovery after the kills of consumers, overall and apart from the broker's and Postgres' restarts. */
export function consumerRecoveryOf(
  events: readonly ChaosEvent[],
  infraRestarts: readonly ChaosEvent[],
  consumers: readonly string[] = CONSUMERS,
): ConsumerRecovery {
  const kills = events.filter((e) => consumers.some((name) => e.what === `kill -9 ${name}`));
  const overlaps = (a: ChaosEvent, b: ChaosEvent) =>
    a.atS < b.atS + b.backAfterS && b.atS < a.atS + a.backAfterS;
  return {
    ...recoveryFigures(kills.map((e) => e.backAfterS)),
    apartFromRestarts: recoveryFigures(
      kills.filter((k) => !infraRestarts.some((r) => overlaps(k, r))).map((e) => e.backAfterS),
    ),
  };
}

/** Final states of the accepted orders, from the orders database. */
async function orderOutcomes(ordersUrl: string, accepted: Map<string, string>): Promise<ChaosOutcomes> {
  const client = new pg.Client({ connectionString: ordersUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      id: string;
      status: string;
      reason: string | null;
      seconds: number;
    }>(
      `SELECT id, status, cancellation_reason AS reason,
              extract(epoch FROM updated_at - created_at)::float8 AS seconds
         FROM orders WHERE id = ANY($1::uuid[])`,
      [[...accepted.keys()]],
    );
    const approvable = rows.filter((r) => ['visa', 'ship'].includes(accepted.get(r.id) ?? ''));
    const timedOut = approvable.filter((r) => r.reason === 'TIMEOUT');
    const finished = rows
      .filter((r) => r.status !== 'PENDING')
      .map((r) => r.seconds)
      .sort((a, b) => a - b);
    const round = (s: number) => Math.round(s * 100) / 100;
    const { rows: history } = await client.query<{ id: string; steps: string }>(
      `SELECT t.order_id AS id,
              string_agg(t.from_step || '→' || t.to_step || ' +' ||
                         round(extract(epoch FROM t.created_at - o.created_at)::numeric, 1) || 's (' || t.cause || ')',
                         ', ' ORDER BY t.id) AS steps
         FROM saga_transitions t JOIN orders o ON o.id = t.order_id
        WHERE t.order_id = ANY($1::uuid[]) GROUP BY t.order_id`,
      [timedOut.slice(0, 5).map((r) => r.id)],
    );
    const { rows: deadlines } = await client.query<{ step: string; n: number }>(
      // An order's first deadline is the forward step that gave up; later ones re-send compensations.
      `SELECT step, count(*)::int AS n FROM (
         SELECT DISTINCT ON (order_id) from_step AS step FROM saga_transitions
          WHERE cause = 'deadline' AND order_id = ANY($1::uuid[]) ORDER BY order_id, id) first
        GROUP BY step ORDER BY n DESC`,
      [rows.filter((r) => r.reason === 'TIMEOUT').map((r) => r.id)],
    );
    return {
      approvable: approvable.length,
      approvableTimedOut: timedOut.length,
      timedOutAt: Object.fromEntries(deadlines.map((d) => [d.step, d.n])),
      timedOutHistories: history.map((h) => `${h.id}: ${h.steps}`),
      acceptedToFinal: {
        n: finished.length,
        p50: round(percentile(finished, 50)),
        p99: round(percentile(finished, 99)),
        max: round(finished.at(-1) ?? Number.NaN),
      },
    };
  } finally {
    await client.end();
  }
}

const between = (mean: number, random: () => number) => Math.round(mean * (0.5 + random()));

/** Runs scripts/chaos-infra.sh; its output goes to the run's log. */
function chaosInfra(settings: ChaosInfraSettings, command: string, log: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(log, { flags: 'a' });
    const child = spawn(join(repoRoot, 'scripts/chaos-infra.sh'), [command], {
      env: {
        ...process.env,
        CHAOS_RUN_DIR: settings.runDir,
        CHAOS_PG_PORT: String(settings.pgPort),
        CHAOS_KAFKA_PORT: String(settings.kafkaPort),
        CHAOS_KAFKA_CONTROLLER_PORT: String(settings.kafkaControllerPort),
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('exit', (code) => {
      out.end();
      if (code === 0) resolve();
      else reject(new Error(`scripts/chaos-infra.sh ${command} failed (exit ${code}); see ${log}`));
    });
  });
}

function migrationsHash(service: string): string {
  const dir = join(repoRoot, 'services', service, 'prisma', 'migrations');
  const hash = createHash('sha256');
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    if (entry.endsWith('.sql')) hash.update(entry).update(readFileSync(join(dir, entry)));
  }
  return hash.digest('hex').slice(0, 12);
}

const withDatabase = (adminUrl: string, name: string) => {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

/** One fresh database per service, copied from a template migrated once per set of migrations. */
async function freshDatabases(adminUrl: string, id: string): Promise<Record<DatabaseService, string>> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const templates = databaseServices.map((service) => `tpl_${service}_${migrationsHash(service)}`);
    const missing: number[] = [];
    for (const [i, template] of templates.entries()) {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (exists.rowCount === 0) missing.push(i);
    }
    for (const i of missing) {
      await admin.query(`DROP DATABASE IF EXISTS ${templates[i]}_building WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${templates[i]}_building`);
    }
    await Promise.all(
      missing.map((i) =>
        migrateDeploy(databaseServices[i]!, withDatabase(adminUrl, `${templates[i]}_building`)),
      ),
    );
    for (const i of missing) {
      await admin.query(`ALTER DATABASE ${templates[i]}_building RENAME TO ${templates[i]}`);
    }
    const databases = {} as Record<DatabaseService, string>;
    // CREATE DATABASE ... TEMPLATE one at a time: the template must have no other session.
    for (const [i, service] of databaseServices.entries()) {
      const template = templates[i]!;
      const name = `chaos_${service}_${id}`;
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      databases[service] = withDatabase(adminUrl, name);
    }
    return databases;
  } finally {
    await admin.end();
  }
}

async function dropDatabases(adminUrl: string, databases: Record<DatabaseService, string>): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const url of Object.values(databases)) {
      await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) throw new Error(`${path} is missing: scripts/chaos-infra.sh up did not finish`);
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const progress = options.onProgress ?? (() => undefined);
  const id = randomBytes(4).toString('hex');
  const logDir = join(runDir, 'chaos-logs', id);
  mkdirSync(logDir, { recursive: true });
  const infraLog = join(logDir, 'infra.log');
  const random = seededRandom(options.seed);

  progress(`starting the private Postgres (${options.infra.pgPort}) and Kafka (${options.infra.kafkaPort})`);
  await chaosInfra(options.infra, 'up', infraLog);
  const env = readEnvFile(join(options.infra.runDir, 'infra.env'));
  const adminUrl = env.DATABASE_ADMIN_URL!;
  const kafkaBrokers = (env.KAFKA_BROKERS ?? '').split(',');
  progress('creating fresh databases');
  const databases = await freshDatabases(adminUrl, id);
  const ports = Object.fromEntries(
    await Promise.all(serviceNames.map(async (name) => [name, await freePort()] as const)),
  ) as Record<ServiceName, number>;
  const prefix = `chaos.${id}.`;
  const stack = new Stack({
    ports,
    databases,
    kafkaBrokers,
    kafkaTopicPrefix: prefix,
    secrets: await freshSecrets(),
    providerLedgerFile: join(logDir, 'provider-ledger.jsonl'),
    logLevel: 'info',
    logs: { dir: logDir },
    env: { OTEL_SDK_DISABLED: 'true' },
    ...(options.runtime ? { runtime: options.runtime } : {}),
  });

  try {
    progress(`starting the services (logs in ${logDir})`);
    // A broker that has just started (and topics just created) can refuse a service's
    // first requests with a retriable error that some services do not retry at start-up
    // yet; the scenario is about what happens after a healthy start, so try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await stack.start({ migrate: false });
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
        progress(`the stack did not start (attempt ${attempt}): ${(error as Error).message.split('\n')[0]}`);
      }
    }

    const events: ChaosEvent[] = [];
    const unplannedExits: ChaosEvent[] = [];
    const infraRestarts: ChaosEvent[] = [];
    const killsByService: Record<string, number> = {};
    let loadStart = 0;
    const at = () => Math.round((performance.now() - loadStart) / 100) / 10;
    const busy = new Set<ServiceName>();
    const stopFaults = new AbortController();
    let initialStock: StockSnapshot = new Map();

    /** Starts a service again, trying until it is ready (it may fail while Postgres or Kafka is down). */
    const bringBack = async (name: ServiceName): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await stack.restart(name);
          return;
        } catch (error) {
          if (attempt >= 20) throw error;
          progress(
            `${name} did not come back (attempt ${attempt}): ${(error as Error).message.split('\n')[0]}`,
          );
          await sleep(2000);
        }
      }
    };

    // Kills go on every few seconds whatever the earlier victims are doing: a service
    // that takes long to come back (Kafka or Postgres down) does not hold up the next kill.
    const comebacks = new Set<Promise<void>>();
    const killLoop = async () => {
      const { signal } = stopFaults;
      while (!signal.aborted) {
        try {
          await sleep(between(options.killEveryMs, random), undefined, { signal });
        } catch {
          break;
        }
        const candidates = options.victims.filter((name) => !busy.has(name));
        if (candidates.length === 0) continue;
        const victim = candidates[Math.floor(random() * candidates.length)]!;
        busy.add(victim);
        const killedAt = performance.now();
        const atS = at();
        stack.crash(victim);
        killsByService[victim] = (killsByService[victim] ?? 0) + 1;
        const comeback = (async () => {
          await sleep(between(options.downMs, random));
          await bringBack(victim);
          const event = { atS, what: `kill -9 ${victim}`, backAfterS: (performance.now() - killedAt) / 1000 };
          events.push(event);
          progress(`${atS.toFixed(1)}s  ${event.what}, back after ${event.backAfterS.toFixed(1)}s`);
          busy.delete(victim);
        })();
        comebacks.add(comeback);
      }
      await Promise.all(comebacks);
    };

    // A service that exits without being killed is a finding; it is restarted so the run goes on.
    const watchdog = async () => {
      while (!stopFaults.signal.aborted) {
        for (const name of serviceNames) {
          if (busy.has(name) || stack.service(name).running) continue;
          busy.add(name);
          const exitedAt = performance.now();
          const atS = at();
          progress(
            `${atS.toFixed(1)}s  ${name} exited on its own:\n${stack.service(name).recentOutput().slice(-1500)}`,
          );
          await bringBack(name);
          unplannedExits.push({
            atS,
            what: `${name} exited`,
            backAfterS: (performance.now() - exitedAt) / 1000,
          });
          busy.delete(name);
        }
        await sleep(1000);
      }
    };

    const infraFault = async (fraction: number, what: 'kafka' | 'postgres') => {
      try {
        await sleep(options.durationMs * fraction, undefined, { signal: stopFaults.signal });
      } catch {
        return;
      }
      const started = performance.now();
      const atS = at();
      progress(`${atS.toFixed(1)}s  restarting ${what === 'kafka' ? 'the Kafka broker' : 'Postgres'}`);
      await chaosInfra(options.infra, `restart-${what}`, infraLog);
      const event = { atS, what: `restart ${what}`, backAfterS: (performance.now() - started) / 1000 };
      infraRestarts.push(event);
      events.push(event);
      progress(`${at().toFixed(1)}s  ${what} is back after ${event.backAfterS.toFixed(1)}s`);
    };

    const faults: Promise<void>[] = [];
    const accepted = new Map<string, string>();
    // Guesses a password about once a second from when the faults start (login-guesser.ts),
    // so the account's failures are counted while services are being killed.
    let guessing: Promise<GuessLog> | undefined;
    const load = runLoad(
      loadOptions({
        baseUrl: stack.url('gateway'),
        ordersPerSecond: options.ordersPerSecond,
        durationMs: options.durationMs,
        seed: options.seed,
        adminEmail: DEFAULT_ADMIN_EMAIL,
        adminPassword: DEFAULT_ADMIN_PASSWORD,
        intervalMs: 5000,
        connections: 32,
        requestTimeoutMs: 10_000,
        orderTimeoutMs: options.durationMs + options.settleMs,
        drainMs: options.settleMs,
        scarceProducts: 3,
        scarceStock: 5,
      }),
      {
        onProgress: (message) => progress(`load: ${message}`),
        onOrderAccepted: (id, kind) => accepted.set(id, kind),
        beforeArrivals: async () => {
          initialStock = await stockSnapshot(databases.inventory);
          loadStart = performance.now();
          progress(
            `${options.ordersPerSecond} orders/s for ${options.durationMs / 1000}s; a kill every ~${options.killEveryMs / 1000}s`,
          );
          faults.push(killLoop(), watchdog());
          guessing = guessPasswords(stack.url('gateway'), Math.min(1000, options.durationMs / 40));
          if (options.restartInfra) faults.push(infraFault(0.3, 'kafka'), infraFault(0.6, 'postgres'));
          setTimeout(() => stopFaults.abort(), options.durationMs).unref();
        },
        onInterval: (report) => progress(formatInterval(report)),
      },
    );
    const summary = await load.finally(() => stopFaults.abort());
    await Promise.all(faults);
    const guesses = await guessing;
    const durationS = at();

    progress('load done; waiting for the system to settle');
    const sources = {
      databases,
      providerUrl: stack.url('payment-provider'),
      providerApiKey: 'sk_test_shop_simulator',
      kafkaBrokers,
      topicPrefix: prefix,
    };
    const settleStart = performance.now();
    let invariants = await checkInvariants(sources, initialStock);
    while (invariants.some((r) => !r.ok) && performance.now() - settleStart < options.settleMs) {
      await sleep(3000);
      invariants = await checkInvariants(sources, initialStock);
    }
    const outcomes = await orderOutcomes(databases.orders, accepted);
    if (guesses) invariants = [...invariants, guessInvariant(guesses)];
    const deadLetters = await readDeadLetters(kafkaBrokers, `${prefix}dead-letters`);
    if (deadLetters.length > 0) {
      // Nothing in this scenario is malformed: each dead letter is a message the system gave up on.
      invariants = invariants.map((r) =>
        r.name.startsWith('the dead-letter topic') ? { ...r, examples: deadLetters } : r,
      );
    }
    const ok = invariants.every((r) => r.ok) && unplannedExits.length === 0;
    const diagnosis = ok
      ? undefined
      : await diagnoseServices(
          serviceNames.map((name) => ({ name, url: stack.url(name), logFile: join(logDir, `${name}.log`) })),
        );
    const groups = ok
      ? undefined
      : await describeConsumerGroups(kafkaBrokers, prefix).catch(
          (error: Error) => `not known: ${error.message}`,
        );
    return {
      ok,
      ...(diagnosis ? { diagnosis } : {}),
      ...(groups ? { groups } : {}),
      seed: options.seed,
      durationS,
      settleS: Math.round((performance.now() - settleStart) / 100) / 10,
      kills: Object.values(killsByService).reduce((a, b) => a + b, 0),
      killsByService,
      unplannedExits,
      infraRestarts,
      events,
      consumerRecovery: consumerRecoveryOf(events, infraRestarts),
      outcomes,
      load: summary,
      invariants,
      logDir,
    };
  } finally {
    await stack.stop();
    await dropDatabases(adminUrl, databases).catch(() => undefined);
    if (!options.keepInfra) await chaosInfra(options.infra, 'down', infraLog).catch(() => undefined);
  }
}

export function formatChaosReport(report: ChaosReport): string {
  const o = report.load.orders;
  const h = report.load.http;
  const lines = [
    `chaos summary (seed ${report.seed}, logs ${report.logDir})`,
    `  faults     ${report.durationS}s: ${report.kills} kills -9 (${Object.entries(report.killsByService)
      .map(([name, n]) => `${name} ×${n}`)
      .join(', ')})`,
    ...report.infraRestarts.map(
      (e) => `             ${e.what} at ${e.atS}s, answering again after ${e.backAfterS.toFixed(1)}s`,
    ),
    report.unplannedExits.length === 0
      ? '             no service exited unless killed'
      : `             UNPLANNED EXITS: ${report.unplannedExits.map((e) => `${e.what} at ${e.atS}s`).join(', ')}`,
    `  load       ${report.load.schedule.achievedOrdersPerSecond} orders/s; ${h.requests} requests, ${h.errors} errors (${((100 * h.errors) / Math.max(1, h.requests)).toFixed(1)}%), p50 ${h.latency.p50}ms p99 ${h.latency.p99}ms`,
    `  orders     placed ${o.placed}, accepted ${o.accepted}, confirmed ${o.confirmed}, cancelled ${o.cancelled} (${Object.entries(
      o.cancelledByReason,
    )
      .map(([reason, n]) => `${reason} ×${n}`)
      .join(', ')}), unfinished ${o.unfinished}`,
    `  outcomes   ${report.outcomes.approvableTimedOut} of ${report.outcomes.approvable} orders with a good card and stock cancelled by TIMEOUT; accepted → final p50 ${report.outcomes.acceptedToFinal.p50}s, p99 ${report.outcomes.acceptedToFinal.p99}s, max ${report.outcomes.acceptedToFinal.max}s`,
    ...(Object.keys(report.outcomes.timedOutAt).length > 0
      ? [
          `             deadlines passed (every TIMEOUT order): ${Object.entries(report.outcomes.timedOutAt)
            .map(([step, n]) => `${step} ×${n}`)
            .join(', ')}`,
        ]
      : []),
    ...report.outcomes.timedOutHistories.map((h) => `             timed out: ${h}`),
    `  recovery   after a kill -9 of a consumer (${CONSUMERS.join(', ')}), ready again with its partitions: p50 ${report.consumerRecovery.p50}s, max ${report.consumerRecovery.max}s over ${report.consumerRecovery.n} kills (the deliberate downtime, --down, included)`,
    `             of them the ${report.consumerRecovery.apartFromRestarts.n} kills with no broker or Postgres restart before they were ready again: p50 ${report.consumerRecovery.apartFromRestarts.p50}s, max ${report.consumerRecovery.apartFromRestarts.max}s`,
    `  settled    in ${report.settleS}s`,
    '  invariants',
    ...formatInvariants(report.invariants)
      .split('\n')
      .map((line) => `    ${line}`),
    ...(report.diagnosis
      ? ['  services (readiness; warnings and errors logged)', ...formatDiagnosis(report.diagnosis)]
      : []),
    ...(report.groups
      ? [
          '  consumer groups (members, partitions, lag)',
          ...(typeof report.groups === 'string' ? [`    ${report.groups}`] : formatGroups(report.groups)),
        ]
      : []),
    report.ok ? 'chaos: every invariant holds' : 'chaos: FAILED',
  ];
  return lines.join('\n');
}
