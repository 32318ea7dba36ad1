// bench/results/REPORT.md and its chart, rebuilt from the JSON files of the
// benchmarks (each file is the last run of that benchmark). Every target of
// issue 6 gets a line saying whether it was met and, if not, by how much.
// What the profiles showed is written by a person in bench/FINDINGS.md and
// included as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventsReport } from './events.js';
import {
  GATEWAY_CONFIGS,
  GATEWAY_TARGETS,
  type GatewayConfigResult,
  type GatewayReport,
  HALF_CAPACITY_P99_LIMIT_MS,
} from './gateway.js';
import type { ProfileSummary } from './lib/profile.js';
import { formatRepeated, formatNumber as n, type Repeated } from './lib/stats.js';
import { barChart, COLORS, stack } from './lib/svg.js';
import type { OrdersReport, StepResult } from './orders.js';
import type { StartupReport } from './startup.js';

/** Issue 15's memory and start-up targets, per service. */
const PEAK_RSS_LIMIT_MIB = 200;
const IDLE_RSS_LIMIT_MIB = 120;
const READY_LIMIT_MS = 2000;

interface Envelope {
  benchmark: string;
  at: string;
  durationSeconds: number;
  quick: boolean;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    loadavg: number[];
    loadavgBefore: number[];
    /** Shares of all CPUs' time during the run; absent in results written before it was measured. */
    cpu?: { steal: number; idle: number };
  };
}

interface Target {
  benchmark: string;
  what: string;
  target: string;
  measured: string;
  /** measured / target, oriented so that ≥ 1 means met. */
  score: number;
  met: boolean;
  miss?: string;
}

function read<T>(dir: string, name: string): (T & Envelope) | undefined {
  const file = join(dir, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T & Envelope) : undefined;
}

const pct = (x: number) => `${n(x * 100, 3)}%`;
const when = (e: Envelope) =>
  `${e.at.slice(0, 16).replace('T', ' ')} UTC, ${e.durationSeconds} s, load average ${e.machine.loadavgBefore.join(' ')} before and ${e.machine.loadavg.join(' ')} after` +
  (e.machine.cpu
    ? `; **${pct(e.machine.cpu.steal)} of the CPU time was stolen by the hypervisor** (other guests), ${pct(e.machine.cpu.idle)} idle`
    : '') +
  (e.quick ? ', **--quick run: figures not worth keeping**' : '');

// JSON turns NaN into null: a figure that could not be measured (nothing confirmed, say) is a miss.
const measuredAt = (value: number | null) => (value === null || !Number.isFinite(value) ? undefined : value);

function atLeast(benchmark: string, what: string, raw: number, target: number, unit: string): Target {
  const value = measuredAt(raw);
  const met = value !== undefined && value >= target;
  return {
    benchmark,
    what,
    target: `≥ ${n(target)}${unit}`,
    measured: value === undefined ? 'not measured' : `${n(value)}${unit}`,
    score: (value ?? 0) / target,
    met,
    ...(met ? {} : { miss: value === undefined ? 'nothing to measure' : `${pct(1 - value / target)} short` }),
  };
}

/** A ceiling that may be reached (≤), unlike `below`. */
function atMost(benchmark: string, what: string, raw: number, target: number, unit: string): Target {
  const { miss, ...limit } = below(benchmark, what, raw, target, unit);
  const value = measuredAt(raw);
  const met = value !== undefined && value <= target;
  return { ...limit, target: `≤ ${n(target)}${unit}`, met, ...(met ? {} : { miss: miss ?? 'at the limit' }) };
}

function below(benchmark: string, what: string, raw: number, target: number, unit: string): Target {
  const value = measuredAt(raw);
  const met = value !== undefined && value < target;
  return {
    benchmark,
    what,
    target: `< ${n(target)}${unit}`,
    measured: value === undefined ? 'not measured' : `${n(value)}${unit}`,
    score: value === undefined ? 0 : value > 0 ? target / value : Number.POSITIVE_INFINITY,
    met,
    ...(met
      ? {}
      : {
          miss:
            value === undefined
              ? 'nothing to measure (no order was confirmed)'
              : `${n(value / target)}× the limit (${n(value - target)}${unit} over)`,
        }),
  };
}

export function writeReport(dir: string): string[] {
  const gateway = read<GatewayReport>(dir, 'gateway');
  const orders = read<OrdersReport>(dir, 'orders');
  const events = read<EventsReport>(dir, 'events');
  const cutover = read<{ source: string; result: CutoverResult }>(dir, 'cutover');
  const cutoverNode = read<{ source: string; result: CutoverNodeResult }>(dir, 'cutover-node');
  const targets: Target[] = [];
  const sections: string[] = [];
  const charts: string[] = [];

  // A gateway.json from before the comparison measured CPU against Express has nothing for these targets.
  if (gateway?.cheaperThanExpress) {
    const byId = new Map(gateway.configs.map((c) => [c.id, c]));
    for (const { id, cheaperThanExpress } of GATEWAY_TARGETS) {
      targets.push(
        atLeast(
          'gateway',
          `${letterOf('express')} Express CPU/request ÷ ${letterOf(id)} CPU/request`,
          gateway.cheaperThanExpress[id]?.median ?? Number.NaN,
          cheaperThanExpress,
          '×',
        ),
      );
    }
    targets.push(
      below(
        'gateway',
        `p99 of ${letterOf('gateway-full')} at half its capacity`,
        gateway.halfCapacity.result.p99Ms,
        HALF_CAPACITY_P99_LIMIT_MS,
        ' ms',
      ),
    );
    sections.push(gatewaySection(gateway, byId));
    charts.push(
      barChart({
        title: 'Gateway cost: CPU time per proxied request (median of rounds)',
        subtitle:
          'small JSON upstream, autocannon at 50 connections; lower is better; × = times cheaper than Express',
        bars: gateway.configs.map((c) => ({
          label: c.label
            .replace(/^\((\w'?)\) /, '($1) ')
            .replace('auth, rate limit, tracing', 'auth/limit/tracing'),
          value: c.serverCpuMicrosPerRequest.median,
          text: `${n(c.serverCpuMicrosPerRequest.median)} µs · ${n(gateway.cheaperThanExpress[c.id]?.median ?? Number.NaN)}×`,
          color: c.id.startsWith('gateway') ? COLORS.ours : COLORS.baseline,
        })),
      }),
    );
  }
  if (orders) {
    const at50 = orders.latencyRuns.find((r) => r.offeredPerSecond === 50);
    targets.push(
      atLeast(
        'orders',
        'highest sustained rate of CONFIRMED orders (< 1% errors)',
        orders.maxSustainedPerSecond,
        150,
        '/s',
      ),
    );
    // What an order costs, at 50 orders/s (the latency target's rate), else at the capacity found.
    const costed = at50?.cost ? at50 : [...orders.steps].reverse().find((s) => s.ok && s.cost);
    if (costed?.cost) {
      const at = `at ${costed.offeredPerSecond} orders/s`;
      targets.push(
        atMost(
          'orders',
          `Node CPU per confirmed order, all seven services, ${at}`,
          costed.cost.nodeMs,
          13,
          ' ms',
        ),
        atMost('orders', `WAL flushes (fsyncs) per confirmed order, ${at}`, costed.cost.walSyncs, 6, ''),
      );
    }
    if (at50)
      targets.push(
        below('orders', 'p99 POST /orders → CONFIRMED at 50 orders/s', at50.latency.p99, 300, ' ms'),
      );
    for (const m of orders.memory) {
      m.peakMiB = Math.max(m.idleMiB, m.peakMiB);
      targets.push(
        below(
          'memory',
          `peak RSS of ${m.service} under the order benchmark`,
          m.peakMiB,
          PEAK_RSS_LIMIT_MIB,
          ' MiB',
        ),
      );
    }
    sections.push(ordersSection(orders, read<OrdersReport>(join(dir, 'previous'), 'orders')));
    charts.push(
      barChart({
        title: 'Order pipeline: confirmed orders/s at each offered rate',
        subtitle: `a step fails with ≥ 1% errors (HTTP error, cancelled, or not CONFIRMED within ${orders.setup.confirmBoundMs} ms)`,
        bars: orders.steps.map((s) => ({
          label: `offered ${s.offeredPerSecond}/s`,
          value: s.confirmedPerSecond,
          text: `${n(s.confirmedPerSecond)}/s · errors ${pct(s.errorRate)} · p99 ${n(s.latency.p99)} ms`,
          color: s.ok ? COLORS.met : COLORS.missed,
        })),
        marker: { value: 150, label: 'target 150/s' },
      }),
      barChart({
        title: 'Memory: peak RSS per service (idle → under the order benchmark)',
        bars: orders.memory.map((m) => ({
          label: m.service,
          value: m.peakMiB,
          text: `${n(m.idleMiB)} → ${n(m.peakMiB)} MiB`,
          color: m.peakMiB < PEAK_RSS_LIMIT_MIB ? COLORS.ours : COLORS.missed,
        })),
        marker: { value: PEAK_RSS_LIMIT_MIB, label: `target ${PEAK_RSS_LIMIT_MIB} MiB` },
      }),
    );
  }
  const at500 = events?.runs?.filter((r) => r.offeredPerSecond === 500) ?? [];
  if (events && at500.length > 0) {
    for (const run of at500) {
      // Runs from before the consumer could batch have no batchSize: a transaction per message.
      const batch = run.batchSize ?? 1;
      const how = batch > 1 ? `consumer in batches of ${batch}` : 'a transaction per message';
      targets.push(
        below('events', `p99 outbox commit → handler at 500 events/s (${how})`, run.latency.p99, 50, ' ms'),
      );
    }
    sections.push(eventsSection(events));
  }
  if (cutover) sections.push(cutoverSection(cutover));
  const startup = read<StartupReport>(dir, 'startup');
  if (startup) {
    for (const s of startup.services) {
      targets.push(
        atMost('startup', `idle RSS of ${s.service} (tracing on)`, s.idleMiB, IDLE_RSS_LIMIT_MIB, ' MiB'),
        below('startup', `${s.service}: start to ready (compiled)`, s.readyMs.median, READY_LIMIT_MS, ' ms'),
      );
    }
    sections.push(startupSection(startup));
  }
  if (cutoverNode) sections.push(cutoverNodeSection(cutoverNode));
  const profiled = read<GatewayReport>(dir, 'gateway-profiled');
  if (profiled?.profiles) sections.push(profilesSection(profiled));
  const ordersProfiled = read<OrdersReport>(dir, 'orders-profiled');
  if (ordersProfiled?.profileSummaries) sections.push(orderProfilesSection(ordersProfiled));

  if (targets.length > 0) {
    charts.unshift(
      barChart({
        title: 'Targets at a glance: measured ÷ target (≥ 1 is met)',
        subtitle: 'for "under" targets the inverse (limit ÷ measured); bars are capped at 3',
        max: 3,
        bars: targets.map((t) => ({
          label: `${t.benchmark}: ${shortWhat(t.what)}`,
          value: Math.min(3, t.score),
          text: `${t.measured} (${t.target})`,
          color: t.met ? COLORS.met : COLORS.missed,
        })),
        marker: { value: 1, label: 'target' },
      }),
    );
  }
  const chartFile = join(dir, 'chart.svg');
  writeFileSync(chartFile, stack(charts));

  const envelopes = [gateway, orders, events, cutover, cutoverNode].filter(
    (e) => e !== undefined,
  ) as Envelope[];
  const machine = envelopes[0]?.machine;
  const findingsFile = join(dir, '..', 'FINDINGS.md');
  const lines = [
    '# Benchmarks',
    '',
    'Written by `make bench` (`bench/run.ts`) from the JSON files beside this report; rerun one benchmark with',
    '`make bench BENCH=gateway` (or `orders`, `events`, `cutover`, `cutover-node`). Each figure is a median of its rounds with',
    'the lowest and highest in brackets; every baseline ran in the same run, alternating with what it is compared to.',
    '',
    machine
      ? `**The machine**: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}. ` +
        'It is a virtual machine on a shared host, and other workloads may run on it too: each benchmark says its ' +
        'load average and how much of the CPU time the hypervisor gave to other guests (steal, from /proc/stat). ' +
        'With a high steal every absolute figure is lower and noisier than the same code on dedicated cores; ' +
        'ratios taken in the same run are the figures to trust.'
      : '',
    '',
    '![benchmark chart](chart.svg)',
    '',
    '## Targets',
    '',
    '| benchmark | what | target | measured | met? |',
    '| --- | --- | --- | --- | --- |',
    ...targets.map(
      (t) =>
        `| ${t.benchmark} | ${t.what} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : `**no**: ${t.miss}`} |`,
    ),
    '',
    ...sections,
    ...(existsSync(findingsFile) ? ['', readFileSync(findingsFile, 'utf8').trim(), ''] : []),
  ];
  const reportFile = join(dir, 'REPORT.md');
  writeFileSync(reportFile, `${lines.join('\n').replace(/\n{3,}/g, '\n\n')}\n`);
  return [reportFile, chartFile];
}

function shortWhat(what: string): string {
  return what
    .replace('highest sustained rate of CONFIRMED orders (< 1% errors)', 'sustained orders/s')
    .replace('p99 POST /orders → CONFIRMED at 50 orders/s', 'p99 at 50 orders/s')
    .replace(/peak RSS of (\S+) under the order benchmark/, 'RSS $1')
    .replace(/p99 outbox commit → handler at (\d+) events\/s/, 'p99 at $1 events/s')
    .replace(/^\(c\) Express CPU\/request ÷ (\(\w\)) CPU\/request$/, '$1 × cheaper than Express')
    .replace(/^p99 of (\(\w\)) at half its capacity$/, 'p99 of $1 at half capacity');
}

/** "(f)" for gateway-full: the letter its label starts with. */
function letterOf(id: string): string {
  return GATEWAY_CONFIGS.find((c) => c.id === id)?.label.split(' ')[0] ?? id;
}

function gatewaySection(g: GatewayReport & Envelope, byId: Map<string, GatewayConfigResult>): string {
  const rows = g.configs.map(
    (c) =>
      `| ${c.label} | ${formatRepeated(c.serverCpuMicrosPerRequest)} | ${formatRepeated(g.cheaperThanExpress[c.id] ?? repeatedNaN, '×')} | ${formatRepeated(c.requestsPerSecond)} | ${formatRepeated(c.p50Ms)} | ${formatRepeated(c.p99Ms)} | ${pct(c.steal.median)} | ${c.non2xx + c.errors} |`,
  );
  const half = g.halfCapacity;
  const full = byId.get('gateway-full');
  const traced = Object.entries(g.tracing)
    .map(([id, t]) => `${letterOf(id)} ${t.exportRequests} exports (${n(t.exportBytes / 1024)} KiB)`)
    .join(', ');
  return [
    '## 1. Gateway overhead',
    '',
    `Run: ${when(g)}.`,
    '',
    'The figure that counts is the CPU time the server under test used per request, next to how many times cheaper than Express (c) that is, per round (the configurations of a round ran back to back) and then the median.',
    '',
    '| configuration | server CPU µs/request | × cheaper than (c) | req/s | p50 ms | p99 ms | hypervisor steal | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `${letterOf('gateway-full')} at saturation (50 connections): ${n(full?.requestsPerSecond.median ?? Number.NaN)} req/s, p99 ${n(full?.p99Ms.median ?? Number.NaN)} ms. ` +
      `At half that capacity (${n(half.offeredPerSecond)} req/s offered at a fixed rate): ${n(half.result.requestsPerSecond)} req/s served, p50 ${n(half.result.p50Ms)} ms, p99 ${n(half.result.p99Ms)} ms, ${n(half.serverCpuMicrosPerRequest)} µs of CPU a request, steal ${pct(half.steal)}.` +
      (half.peakRssMiB === undefined ? '' : ` Its peak RSS over the whole run: ${n(half.peakRssMiB)} MiB.`),
    '',
    `The OTLP receivers took ${traced}.`,
    '',
    ...Object.entries(g.setup).map(([k, v]) => `- ${k}: ${String(v)}`),
    '',
  ].join('\n');
}

const repeatedNaN: Repeated = { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: [] };

function startupSection(r: StartupReport & Envelope): string {
  return [
    '## 6. Start-up and idle memory',
    '',
    `Run: ${when(r)}.`,
    '',
    `Each service restarted ${r.setup.rounds} times with the rest of the shop up; median (lowest–highest).`,
    '',
    '| service | start to ready ms | CPU to ready s | idle RSS MiB |',
    '| --- | --- | --- | --- |',
    ...r.services.map(
      (s) =>
        `| ${s.service} | ${formatRepeated(s.readyMs)} | ${formatRepeated(s.cpuSeconds)} | ${n(s.idleMiB)} |`,
    ),
    '',
    `The OTLP receiver took ${r.tracing.exportRequests} exports (${n(r.tracing.exportBytes / 1024)} KiB).`,
    '',
    ...Object.entries(r.setup).map(([k, v]) => `- ${k}: ${String(v)}`),
    '',
  ].join('\n');
}

function stepRow(s: StepResult): string {
  const c = s.cost;
  const cost = c
    ? `${n(c.nodeMs)} / ${n(c.postgresMs)} / ${n(c.kafkaMs)} | ${n(c.commits)} / ${n(c.walSyncs)}`
    : '– | –';
  return `| ${s.offeredPerSecond} | ${s.placed} | ${n(s.confirmedPerSecond)} | ${pct(s.errorRate)} (HTTP ${s.httpErrors}, late ${s.late}, cancelled ${s.cancelled}) | ${n(s.acceptLatency.p50)} / ${n(s.acceptLatency.p99)} | ${n(s.latency.p50)} / ${n(s.latency.p99)} / ${n(s.latency.max)} | ${cost} | ${s.ok ? 'pass' : '**fail**'} |`;
}

const STORAGE_WAYS: Record<string, string> = {
  'prisma-models':
    '(a) the 7 statements as Prisma model queries in an interactive transaction (the saga as first written)',
  'prisma-sql':
    '(b) the 7 statements as SQL through the Prisma interactive transaction (the saga until 2026-12)',
  pg: '(c) the 7 statements on node-postgres',
  saga: '(d) the saga now: one reply through the orchestrator in the consumer’s transaction (4 statements, node-postgres)',
  'saga-batch': '(e) the saga now, 20 replies of a partition per transaction (per reply)',
};

function storageLines(o: OrdersReport): string[] {
  if (!o.storage) return [];
  const floor = o.storage.results.find((r) => r.way === 'pg')?.cpuMsPerTransaction ?? Number.NaN;
  return [
    `One saga step (${o.storage.transactionsPerRound} one after another, median of ${o.storage.rounds} rounds taking turns), the Node CPU it costs:`,
    '',
    '| way | CPU ms per step (median; slowest round) | × (c) | wall ms per step |',
    '| --- | --- | --- | --- |',
    ...o.storage.results.map(
      (r) =>
        `| ${STORAGE_WAYS[r.way] ?? r.way} | ${r.cpuMsPerTransaction.toFixed(2)}; ${r.rounds.max.toFixed(2)} | ${(r.cpuMsPerTransaction / floor).toFixed(1)}× | ${r.wallMsPerTransaction.toFixed(2)} |`,
    ),
    '',
  ];
}

/** The key figures of this run next to those of the run kept in previous/orders.json (the design before). */
function previousLines(o: OrdersReport & Envelope, before: (OrdersReport & Envelope) | undefined): string[] {
  if (!before) return [];
  const at50 = (r: OrdersReport) => r.latencyRuns.find((x) => x.offeredPerSecond === 50);
  const peak = (r: OrdersReport) => Math.max(...r.memory.map((m) => m.peakMiB));
  const step = (r: OrdersReport, way: string) =>
    r.storage?.results.find((x) => x.way === way)?.cpuMsPerTransaction ?? Number.NaN;
  const cost = at50(o)?.cost;
  const rows: [string, string, string][] = [
    [
      'highest sustained rate of CONFIRMED orders',
      `${n(before.maxSustainedPerSecond)}/s`,
      `${n(o.maxSustainedPerSecond)}/s`,
    ],
    [
      'p99 POST → CONFIRMED at 50 orders/s',
      `${n(at50(before)?.latency.p99 ?? Number.NaN)} ms`,
      `${n(at50(o)?.latency.p99 ?? Number.NaN)} ms`,
    ],
    [
      'one saga step, Node CPU (the way the saga ran)',
      `${n(step(before, 'prisma-sql'))} ms (SQL through Prisma)`,
      `${n(step(o, 'saga'))} ms alone, ${n(step(o, 'saga-batch'))} ms in batches of 20`,
    ],
    [
      'Node CPU per confirmed order, all services, at 50/s',
      'not measured (about 100–150 ms, FINDINGS.md)',
      cost ? `${n(cost.nodeMs)} ms` : '–',
    ],
    ['highest peak RSS of a service', `${n(peak(before))} MiB`, `${n(peak(o))} MiB`],
  ];
  return [
    `Next to the run before the pipeline was rebuilt (${before.at.slice(0, 10)}, results/previous/orders.json):`,
    '',
    `| figure | ${before.at.slice(0, 10)} | now |`,
    '| --- | --- | --- |',
    ...rows.map(([what, then, now]) => `| ${what} | ${then} | ${now} |`),
    '',
  ];
}

/** Per service, at the highest passed step: its CPU and its system calls per confirmed order. */
function perServiceLines(o: OrdersReport): string[] {
  const step = [...o.steps].reverse().find((s) => s.ok && s.cost?.syscallsByService);
  const cost = step?.cost;
  if (!step || !cost?.syscallsByService) return [];
  return [
    `Per service at ${step.offeredPerSecond} orders/s (the highest step passed), per confirmed order: Node CPU, and the write and read system calls (/proc/<pid>/io: every socket write or read is one, so they count round trips and messages):`,
    '',
    '| service | CPU ms | writes | reads |',
    '| --- | --- | --- | --- |',
    ...Object.entries(cost.nodeMsByService).map(
      ([name, ms]) =>
        `| ${name} | ${n(ms)} | ${n(cost.syscallsByService![name]?.writes ?? Number.NaN)} | ${n(cost.syscallsByService![name]?.reads ?? Number.NaN)} |`,
    ),
    '',
  ];
}

/** What the shop costs doing nothing: the share of a step's cost per order that does not shrink with the rate. */
function idleLines(o: OrdersReport): string[] {
  const idle = o.idle;
  if (!idle) return [];
  const services = Object.entries(idle.nodeMsByService)
    .map(([name, ms]) => `${name} ${n(ms)}`)
    .join(', ');
  return [
    `Doing nothing, after the warm-up: **${n(idle.nodeMs)} ms of Node CPU per second** (${services}), Postgres ${n(idle.postgresMs)} ms/s, Kafka ${n(idle.kafkaMs)} ms/s, ` +
      `${n(idle.commits)} transactions/s. At R orders/s that adds ${n(idle.nodeMs)}/R ms of Node CPU to every order (${n(idle.nodeMs / 10)} ms at 10/s, ${n(idle.nodeMs / 100)} ms at 100/s).`,
    '',
  ];
}

function ordersSection(o: OrdersReport & Envelope, before?: OrdersReport & Envelope): string {
  const header = [
    '| offered/s | placed | confirmed/s | errors | 202 p50 / p99 ms | CONFIRMED p50 / p99 / max ms | CPU ms per confirmed order: Node / Postgres / Kafka | transactions (read-only ones too) / WAL flushes (fsyncs) per order | step |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  return [
    '## 2. Order pipeline',
    '',
    `Run: ${when(o)}.`,
    '',
    `Highest sustained rate: **${n(o.maxSustainedPerSecond)} confirmed orders/s**.`,
    '',
    ...previousLines(o, before),
    'Capacity steps:',
    '',
    ...header,
    ...o.steps.map(stepRow),
    '',
    ...perServiceLines(o),
    ...idleLines(o),
    'Latency runs (POST /orders → CONFIRMED):',
    '',
    ...header,
    ...o.latencyRuns.map(stepRow),
    '',
    o.pgbench
      ? `Storage ceiling: \`pgbench -c ${o.pgbench.clients} -j 2 -T ${o.pgbench.seconds}\` at scale ${o.pgbench.scale} on the same Postgres, run right after: **${n(o.pgbench.tps)} TPS** (average latency ${n(o.pgbench.latencyMs)} ms). ` +
        `One confirmed order costs about ${n(o.pgbench.tps / Math.max(1, o.maxSustainedPerSecond))} pgbench transactions' worth of that ceiling at the measured capacity.`
      : 'pgbench did not run.',
    '',
    ...storageLines(o),
    '',
    '### 5. Memory',
    '',
    '| service | idle RSS MiB | peak RSS MiB under the order benchmark |',
    '| --- | --- | --- |',
    ...o.memory.map((m) => `| ${m.service} | ${n(m.idleMiB)} | ${n(m.peakMiB)} |`),
    '',
    ...Object.entries(o.setup).map(([k, v]) => `- ${k}: ${String(v)}`),
    '',
  ].join('\n');
}

function eventsSection(e: EventsReport & Envelope): string {
  return [
    '## 3. Event path',
    '',
    `Run: ${when(e)}.`,
    '',
    '| consumer batch | offered events/s | committed | committed/s | handled | COMMIT → handler p50 / p90 / p99 / max ms | enqueue transaction p50 / p99 ms |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...e.runs.map(
      (r) =>
        `| ${r.batchSize ?? 1} | ${r.offeredPerSecond} | ${r.committed} | ${n(r.emittedPerSecond)} | ${r.handled} | ${n(r.latency.p50)} / ${n(r.latency.p90)} / ${n(r.latency.p99)} / ${n(r.latency.max)} | ${n(r.commitLatency.p50)} / ${n(r.commitLatency.p99)} |`,
    ),
    '',
    'The enqueue transaction is timed from when the schedule said it should start, so when the emitter',
    'falls behind the offered rate its queue shows there, not in the commit → handler figure.',
    '',
    ...Object.entries(e.setup).map(([k, v]) => `- ${k}: ${String(v)}`),
    '',
  ].join('\n');
}

interface CutoverResult {
  at: string;
  setup: Record<string, unknown>;
  results: Record<string, { n: number; p50: number; p90: number; p99: number; min: number; max: number }>;
  definitions: Record<string, string>;
}

function cutoverSection(c: { source: string; result: CutoverResult } & Envelope): string {
  const r = c.result;
  return [
    '## 4. Cutover (blue-green, local control plane)',
    '',
    `Run: ${when(c)}. From \`${c.source}\`, its JSON kept whole in \`cutover.json\`; setup: ${Object.entries(
      r.setup,
    )
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}.`,
    '',
    '| measure | n | p50 ms | p99 ms | min | max | definition |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...Object.entries(r.results).map(
      ([k, s]) =>
        `| ${k} | ${s.n} | ${n(s.p50)} | ${n(s.p99)} | ${n(s.min)} | ${n(s.max)} | ${r.definitions[k] ?? ''} |`,
    ),
    '',
  ].join('\n');
}

interface CutoverNodeResult {
  at: string;
  load: {
    http: { requests: number; errors: number };
    orders: { accepted: number; confirmed: number; cancelled: number; unfinished: number };
  };
  cutovers: {
    service: string;
    action: string;
    from: string;
    to: string;
    firstNewMs: number | null;
    lastOldMs: number | null;
    commandMs: number;
  }[];
}

function cutoverNodeSection(c: { source: string; result: CutoverNodeResult } & Envelope): string {
  const { load, cutovers } = c.result;
  return [
    '## 5. Cutovers under live load (real node, kube-proxy)',
    '',
    `Run: ${when(c)}. From \`${c.source}\` (it also asserts that nothing failed): the load generator through ` +
      "the gateway's Service while bluegreen deploys and rolls back orders, then the gateway. " +
      `Load: ${load.http.requests} requests, ${load.http.errors} errors; ${load.orders.accepted} orders, ` +
      `${load.orders.confirmed} confirmed, ${load.orders.cancelled} cancelled, ${load.orders.unfinished} unfinished. ` +
      "Times from the selector patch (the watch event), read from the pods' own request counters every 100 ms.",
    '',
    '| cutover | first request on the new color, ms | last request on the old color, ms | command, ms |',
    '| --- | --- | --- | --- |',
    ...cutovers.map(
      (x) =>
        `| ${x.service} ${x.action} ${x.from} -> ${x.to} | ${x.firstNewMs ?? '-'} | ${x.lastOldMs ?? '-'} | ${x.commandMs} |`,
    ),
    '',
  ].join('\n');
}

function profilesSection(g: GatewayReport & Envelope): string {
  const lines = [
    '## Where the time goes: CPU profiles of the gateway comparison',
    '',
    `A separate run with \`--cpu-prof\` (${when(g)}); busy samples after the warm-up only, idle excluded. ` +
      'Self time, so a function that only calls others counts little. Native time (system calls made from ' +
      'JavaScript, such as a socket write) shows under the function that made the call.',
    '',
  ];
  for (const [id, p] of Object.entries(g.profiles ?? {})) {
    if (!p) continue;
    // The full configuration is the one the targets are about: its list is longer.
    const top = id === 'gateway-full' ? 15 : 8;
    lines.push(
      `**${letterOf(id)} ${id}** (${n(p.busyMs / 1000)} s busy). By package: ${p.packages
        .slice(0, top)
        .map((x) => `${x.name} ${x.percent}%`)
        .join(', ')}.`,
      '',
      'Top functions: ' +
        p.functions
          .slice(0, top)
          .map((x) => `\`${x.name}\` ${x.percent}%`)
          .join(', ') +
        '.',
      '',
    );
  }
  return lines.join('\n');
}

/** Where the busy time of each service went in a profiled order run, and over all of them. */
function orderProfilesSection(o: OrdersReport & Envelope): string {
  const summaries = Object.entries(o.profileSummaries ?? {}).filter(([, s]) => s !== undefined) as [
    string,
    ProfileSummary,
  ][];
  if (summaries.length === 0) return '';
  const total = summaries.reduce((sum, [, s]) => sum + s.busyMs, 0);
  const byPackage = new Map<string, number>();
  for (const [, s] of summaries)
    for (const p of s.packages)
      byPackage.set(p.name, (byPackage.get(p.name) ?? 0) + (p.percent / 100) * s.busyMs);
  const lines = [
    '## Where the time goes: CPU profiles of the order pipeline',
    '',
    `A separate run with \`--cpu-prof\` (${when(o)}); busy samples after each service's first 30 s, idle excluded. ` +
      'Self time, so a function that only calls others counts little.',
    '',
    '| service | busy ms | share of all services |',
    '| --- | --- | --- |',
    ...summaries
      .sort(([, a], [, b]) => b.busyMs - a.busyMs)
      .map(([name, s]) => `| ${name} | ${n(s.busyMs)} | ${pct(s.busyMs / total)} |`),
    '',
    'By package, over all services:',
    '',
    '| package | share of the busy time |',
    '| --- | --- |',
    ...[...byPackage]
      .sort(([, a], [, b]) => b - a)
      .slice(0, 15)
      .map(([name, ms]) => `| ${name} | ${pct(ms / total)} |`),
    '',
  ];
  for (const [name, s] of summaries) {
    lines.push(
      `Top functions of ${name}: ${s.functions
        .slice(0, 8)
        .map((f) => `${f.name} ${n(f.percent)}%`)
        .join(', ')}.`,
      '',
    );
  }
  return lines.join('\n');
}
