// The run as people read it: one line per interval, and a summary at the end.
import type { LatencySummary } from './histogram.js';
import type { IntervalReport, LoadSummary } from './stats.js';

export function ms(value: number): string {
  if (value >= 10_000) return `${(value / 1000).toFixed(0)}s`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}s`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}ms`;
}

const pad = (text: string | number, width: number) => String(text).padStart(width);

const tally = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([key, n]) => `${key} ×${n}`)
    .join(', ');

export function formatInterval(report: IntervalReport & { phase?: 'load' | 'drain' }): string {
  const errors =
    report.errors === 0 ? 'errors 0' : `errors ${report.errors} (${tally(report.errorsByClass)})`;
  return [
    `${pad(report.elapsedS.toFixed(0), 5)}s${report.phase === 'drain' ? ' drain' : ''}`,
    `orders ${report.ordersPerSecond.toFixed(1)}/s`,
    `req ${report.requestsPerSecond.toFixed(1)}/s`,
    `late ${report.late}`,
    `dropped ${report.dropped}`,
    errors,
    `http p50 ${ms(report.http.p50)} p99 ${ms(report.http.p99)}`,
    `confirmed ${report.confirmedPerSecond.toFixed(1)}/s`,
    `cancelled ${report.cancelledPerSecond.toFixed(1)}/s`,
    report.toFinal.count > 0
      ? `to final p50 ${ms(report.toFinal.p50)} p99 ${ms(report.toFinal.p99)}`
      : 'to final -',
    `in flight ${report.inFlight} (polling ${report.polling})`,
  ].join('  ');
}

const latencyColumns = (l: LatencySummary) =>
  `${pad(ms(l.p50), 8)} ${pad(ms(l.p90), 8)} ${pad(ms(l.p99), 8)} ${pad(ms(l.max), 8)}`;

export function formatSummary(s: LoadSummary): string {
  const lines: string[] = [];
  lines.push(
    `load summary: ${s.baseUrl}, ${s.durationS}s of arrivals (+${s.drainS}s drain), target ${s.target.ordersPerSecond} orders/s = ${s.target.arrivalsPerSecond} arrivals/s (${s.target.arrivals}), seed ${s.seed}`,
  );
  const dropped =
    s.schedule.dropped === 0 ? '0' : `${s.schedule.dropped} (${tally(s.schedule.droppedByReason)})`;
  lines.push(
    `  schedule  planned ${s.schedule.planned}  started ${s.schedule.started}  late ${s.schedule.late}  dropped ${dropped}`,
    `            achieved ${s.schedule.achievedOrdersPerSecond} orders/s, ${s.schedule.achievedArrivalsPerSecond} arrivals/s, ${s.http.requestsPerSecond} HTTP requests/s (polls included)`,
  );
  lines.push(
    `  http      ${s.http.requests} requests, ${s.http.errors} errors${s.http.errors > 0 ? ` (${tally(s.http.errorsByClass)})` : ''}`,
    `            ${'kind'.padEnd(14)} ${pad('count', 7)} ${pad('errors', 7)} ${pad('p50', 8)} ${pad('p90', 8)} ${pad('p99', 8)} ${pad('max', 8)}`,
    `            ${'all'.padEnd(14)} ${pad(s.http.requests, 7)} ${pad(s.http.errors, 7)} ${latencyColumns(s.http.latency)}`,
    ...s.http.byKind.map(
      (k) =>
        `            ${k.kind.padEnd(14)} ${pad(k.count, 7)} ${pad(k.errors, 7)} ${latencyColumns(k.latency)}`,
    ),
  );
  const o = s.orders;
  lines.push(
    `  orders    placed ${o.placed}  accepted ${o.accepted}  rejected ${o.rejected}${o.rejected > 0 ? ` (${tally(o.rejectedBy)})` : ''}`,
    `            confirmed ${o.confirmed}  cancelled ${o.cancelled}${o.cancelled > 0 ? ` (${tally(o.cancelledByReason)})` : ''}  unfinished ${o.unfinished}`,
    ...Object.entries(o.byKind).map(
      ([kind, k]) =>
        `            ${kind.padEnd(13)} accepted ${pad(k.accepted, 5)} → ${tally(k.finals) || '-'}${k.unexpected > 0 ? `   (${k.unexpected} not as expected)` : ''}`,
    ),
    `            POST /orders → final   p50 ${ms(o.toFinal.p50)}  p90 ${ms(o.toFinal.p90)}  p99 ${ms(o.toFinal.p99)}  max ${ms(o.toFinal.max)}`,
  );
  return lines.join('\n');
}
