// make bench: runs the benchmarks (all, or those named with --only), writes each
// one's figures to bench/results/<name>.json and rebuilds bench/results/REPORT.md
// and its charts from every result there.
//
//   node --conditions=source --import tsx bench/run.ts [--only gateway,orders,events,cutover,startup,cutover-node]
//        [--quick] [--rounds 5] [--cpu-prof]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildServices as buildServicesOnce } from '@shop/stack';
import { repoRoot } from '@shop/testkit';
import { eventsBenchmark } from './events.js';
import { gatewayBenchmark } from './gateway.js';
import { stopAll } from './lib/proc.js';
import { type CpuTimes, cpuShares, cpuTimes, ensureDebianPackages, machine } from './lib/system.js';
import { ordersBenchmark, summarizeOrderProfiles } from './orders.js';
import { writeReport } from './report.js';
import { startupBenchmark } from './startup.js';

const BENCHMARKS = ['gateway', 'orders', 'events', 'cutover', 'startup', 'cutover-node'] as const;
type Benchmark = (typeof BENCHMARKS)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: BENCHMARKS.join(',') },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    rates: { type: 'string' },
    source: { type: 'boolean', default: false },
    'express-node': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    `usage: make bench [BENCH=gateway,orders,events,cutover,startup,cutover-node] [BENCH_FLAGS="--quick --rounds 5 --cpu-prof"]
  --only LIST   the benchmarks to run (default: all); the report still shows the others' last results
  --quick       short runs, to check the harness (figures are not worth keeping)
  --rounds N    rounds of the gateway comparison (default 3)
  --rates LIST  the order benchmark's offered rates, orders/s, tried in order until one fails
                (default 10,25,50,...,250,300,350,400); its latency runs stay at 50/s and half
                the capacity found
  --cpu-prof    run the gateways, Express and the shop's services with --cpu-prof and summarize the
                profiles (into <name>-profiled.json, apart from the plain figures)
  --source      run the services from TypeScript through tsx, as make dev does (default: build them
                and run dist/ as their images do; tsx adds memory and start-up time)
  --express-node PATH
                also run the gateway comparison's Express baseline on this Node binary (e.g.
                /usr/bin/node, an older Node), beside the same baseline on the project's Node
example: make bench BENCH=gateway
`,
  );
  process.exit(0);
}
const only = values.only!.split(',').map((name) => name.trim()) as Benchmark[];
for (const name of only) {
  if (!BENCHMARKS.includes(name))
    throw new Error(`unknown benchmark ${name}; known: ${BENCHMARKS.join(', ')}`);
}
const quick = values.quick!;
const resultsDir = join(repoRoot, 'bench/results');
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const runDir = join(repoRoot, '.run/bench', stamp);
mkdirSync(resultsDir, { recursive: true });
mkdirSync(runDir, { recursive: true });
const prefix = (name: string) => `bench.${name}.${randomBytes(4).toString('hex')}.`;
const say = (line: string) =>
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function save(
  name: Benchmark,
  report: unknown,
  startedAt: number,
  loadBefore: number[],
  cpuBefore: CpuTimes | undefined,
): void {
  const document = {
    benchmark: name,
    at: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    quick,
    machine: { ...machine(), loadavgBefore: loadBefore, cpu: cpuShares(cpuBefore, cpuTimes()) },
    ...(report as object),
  };
  // A profiled run is slower than a plain one: its figures are kept apart, for the profiles.
  const file = `${name}${values['cpu-prof'] ? '-profiled' : ''}.json`;
  writeFileSync(join(resultsDir, file), `${JSON.stringify(document, null, 2)}\n`);
  say(`${name}: written to bench/results/${file}`);
}

function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

const runtime = values.source ? 'source' : 'compiled';
let built = false;
/** The services and the packages they import, compiled to dist/ once per run. */
async function buildServices(): Promise<void> {
  if (runtime !== 'compiled' || built) return;
  await buildServicesOnce(say).catch((error: Error) => {
    throw new Error(`${error.message}; run make bench BENCH_FLAGS=--source to skip the build`);
  });
  built = true;
}

const benchmarks: Record<Benchmark, () => Promise<unknown>> = {
  gateway: async () => {
    await ensureDebianPackages(['nginx'], say);
    await buildServices();
    return gatewayBenchmark({
      runDir,
      repetitions: Number(values.rounds ?? (quick ? 1 : 3)),
      durationSeconds: quick ? 3 : 10,
      warmupSeconds: quick ? 1 : 3,
      connections: 50,
      pin: true,
      cpuProfile: values['cpu-prof']!,
      runtime,
      ...(values['express-node'] ? { legacyNode: values['express-node'] } : {}),
      say,
    });
  },
  orders: async () => {
    await buildServices();
    const report = await ordersBenchmark({
      runDir,
      prefix: prefix('orders'),
      rates: values.rates
        ? values.rates.split(',').map((rate) => {
            const n = Number(rate);
            if (!Number.isFinite(n) || n <= 0) throw new Error(`--rates: ${rate} is not a rate in orders/s`);
            return n;
          })
        : quick
          ? [10, 50]
          : [10, 25, 50, 75, 100, 125, 150, 175, 200, 250, 300, 350, 400],
      stepSeconds: quick ? 5 : 20,
      latencySeconds: quick ? 5 : 30,
      confirmBoundMs: 2000,
      cpuProfile: values['cpu-prof']!,
      pgbenchSeconds: quick ? 5 : 15,
      storageRounds: quick ? 1 : 3,
      runtime,
      say,
    });
    // The profiles are written as the services stop, so they are read once the run is over.
    return summarizeOrderProfiles(report);
  },
  startup: async () => {
    await buildServices();
    return startupBenchmark({
      runDir,
      prefix: prefix('startup'),
      rounds: quick ? 1 : 3,
      runtime,
      say,
    });
  },
  events: () =>
    eventsBenchmark({
      prefix: prefix('events'),
      rates: quick ? [500] : [500, 100],
      seconds: quick ? 5 : 20,
      warmupSeconds: quick ? 2 : 5,
      batchSizes: [1, 20],
      say,
    }),
  cutover: async () => {
    // The bluegreen tool's own benchmark on the local control plane; its JSON goes into the report as it is.
    if ((await runCommand('scripts/k8s.sh', ['up'])) !== 0) {
      throw new Error('scripts/k8s.sh up failed: the cutover benchmark needs the local control plane');
    }
    const out = join(runDir, 'cutover.json');
    const code = await runCommand('npm', [
      'run',
      'bench',
      '-w',
      '@shop/bluegreen',
      '--',
      '--out',
      out,
      '--cutovers',
      // The issue asks for at least 30 cutovers (and as many rollbacks) for p50/p99.
      quick ? '5' : '30',
    ]);
    if (code !== 0) throw new Error(`the cutover benchmark exited with ${code}`);
    return { source: 'tools/bluegreen/bench/cutover.ts', result: JSON.parse(readFileSync(out, 'utf8')) };
  },
  'cutover-node': async () => {
    // Cutovers under live load on the real node (kube-proxy, real pods): the node tier's
    // test does the work and asserts that nothing failed; its figures come back as JSON.
    if ((await runCommand('scripts/k8s.sh', ['up'])) !== 0) {
      throw new Error('scripts/k8s.sh up failed: the real-node cutover benchmark needs the local cluster');
    }
    const out = join(runDir, 'cutover-node.json');
    const code = await runCommand(
      'npx',
      ['vitest', 'run', '--project', 'node', 'deploy/node/test/cutover.node.test.ts'],
      { ...process.env, SHOP_CUTOVER_FIGURES: out },
    );
    if (code !== 0) throw new Error(`the real-node cutover run exited with ${code}`);
    return { source: 'deploy/node/test/cutover.node.test.ts', result: JSON.parse(readFileSync(out, 'utf8')) };
  },
};

const stop = async () => {
  await stopAll();
  process.exit(130);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const failures: string[] = [];
for (const name of BENCHMARKS.filter((b) => only.includes(b))) {
  const startedAt = Date.now();
  const loadBefore = machine().loadavg;
  const cpuBefore = cpuTimes();
  say(`${name}: starting (load average ${loadBefore.join(' ')})`);
  try {
    const report = await benchmarks[name]();
    save(name, report, startedAt, loadBefore, cpuBefore);
  } catch (error) {
    failures.push(name);
    say(`${name}: FAILED: ${(error as Error).stack ?? error}`);
    await stopAll();
  }
  say(`${name}: done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
}
const written = writeReport(resultsDir);
say(`report: ${written.map((file) => file.replace(`${repoRoot}/`, '')).join(', ')}`);
if (failures.length > 0) {
  say(`failed: ${failures.join(', ')}`);
  process.exit(1);
}
