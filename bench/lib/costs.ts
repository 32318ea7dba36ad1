// What the shop spends, read between two moments: the CPU time of every service
// process, of Postgres (the postmaster, its live backends, and the backends it
// has reaped) and of the Kafka broker, from /proc; and from Postgres itself the
// transactions committed in the shop's databases and the WAL flushes (fsyncs)
// they cost. Divided by the orders confirmed in between, that is the cost of
// one order.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@shop/testkit';
import type pg from 'pg';

export interface CostSnapshot {
  /** CPU seconds per service process. */
  services: Record<string, number>;
  /** Write- and read-family system calls per service process (/proc/<pid>/io syscw, syscr). */
  syscalls: Record<string, { writes: number; reads: number }>;
  postgres: number;
  kafka: number;
  /** Transactions committed in the given databases. */
  commits: number;
  /** WAL flushes of the whole Postgres instance (pg_stat_wal.wal_sync). */
  walSyncs: number;
}

export interface OrderCost {
  /** Node CPU per confirmed order, ms, summed over the service processes. */
  nodeMs: number;
  nodeMsByService: Record<string, number>;
  /** Write and read system calls per order, by service: every socket write or read is one. */
  syscallsByService?: Record<string, { writes: number; reads: number }>;
  postgresMs: number;
  kafkaMs: number;
  commits: number;
  walSyncs: number;
}

const HZ = 100;

/** utime + stime (and, with `children`, the reaped children's cutime + cstime) of a process, in seconds. */
function cpuOf(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    const own = (fields[11] ?? 0) + (fields[12] ?? 0);
    return (own + (children ? (fields[13] ?? 0) + (fields[14] ?? 0) : 0)) / HZ;
  } catch {
    return 0;
  }
}

/** A process's write- and read-family system calls so far (sockets, pipes and files alike). */
function syscallsOf(pid: number): { writes: number; reads: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(io.match(new RegExp(`^${name}: (\\d+)$`, 'm'))?.[1] ?? Number.NaN);
    return { writes: field('syscw'), reads: field('syscr') };
  } catch {
    return { writes: Number.NaN, reads: Number.NaN };
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function pidFile(name: string): number | undefined {
  const dir = process.env.SHOP_RUN_DIR ?? join(repoRoot, '.run');
  try {
    return Number(readFileSync(join(dir, 'pids', `${name}.pid`), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** The whole Postgres instance: its postmaster, every live backend, and what exited backends used. */
function postgresCpu(): number {
  const postmaster = pidFile('postgres');
  if (!postmaster) return Number.NaN;
  let total = cpuOf(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (pid && parentOf(pid) === postmaster) total += cpuOf(pid);
  }
  return total;
}

export async function costSnapshot(
  pids: Record<string, number>,
  admin: pg.Pool,
  databases: readonly string[],
): Promise<CostSnapshot> {
  const [{ rows: commits }, { rows: wal }] = await Promise.all([
    admin.query<{ n: string }>(
      'SELECT coalesce(sum(xact_commit), 0) AS n FROM pg_stat_database WHERE datname = ANY($1)',
      [databases],
    ),
    admin.query<{ n: string }>('SELECT wal_sync AS n FROM pg_stat_wal'),
  ]);
  const kafka = pidFile('kafka');
  return {
    services: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuOf(pid)])),
    syscalls: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, syscallsOf(pid)])),
    postgres: postgresCpu(),
    kafka: kafka ? cpuOf(kafka) : Number.NaN,
    commits: Number(commits[0]?.n ?? 0),
    walSyncs: Number(wal[0]?.n ?? 0),
  };
}

export function costPerOrder(before: CostSnapshot, after: CostSnapshot, orders: number): OrderCost {
  const per = (x: number) => (orders > 0 ? x / orders : Number.NaN);
  const ms = (seconds: number) => Math.round(per(seconds) * 1000 * 100) / 100;
  const nodeMsByService = Object.fromEntries(
    Object.keys(after.services).map((name) => [
      name,
      ms((after.services[name] ?? 0) - (before.services[name] ?? 0)),
    ]),
  );
  const round = (x: number) => Math.round(x * 100) / 100;
  const syscallsByService = Object.fromEntries(
    Object.keys(after.syscalls).map((name) => {
      const [a, b] = [after.syscalls[name]!, before.syscalls[name]];
      return [
        name,
        { writes: round(per(a.writes - (b?.writes ?? 0))), reads: round(per(a.reads - (b?.reads ?? 0))) },
      ];
    }),
  );
  return {
    nodeMs: round(Object.values(nodeMsByService).reduce((a, b) => a + b, 0)),
    nodeMsByService,
    syscallsByService,
    postgresMs: ms(after.postgres - before.postgres),
    kafkaMs: ms(after.kafka - before.kafka),
    commits: round(per(after.commits - before.commits)),
    walSyncs: round(per(after.walSyncs - before.walSyncs)),
  };
}
