// Percentiles of samples, and the median and spread of repeated measurements:
// every figure in the report is the median of its repetitions, shown with the
// lowest and highest so a reader sees how much the machine wobbled.

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return percentileOfSorted(sorted, p);
}

export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Latencies {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function latencies(samples: readonly number[]): Latencies {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** One figure measured several times: the median is the figure, min and max the spread. */
export interface Repeated {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function repeated(runs: readonly number[]): Repeated {
  const finite = runs.filter((x) => Number.isFinite(x));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: [...runs] };
  const sorted = [...finite].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median =
    sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs: [...runs] };
}

/** Rounds for JSON and tables: 3 significant digits are more than these measurements carry. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const factor = 10 ** Math.max(0, digits - 1 - magnitude);
  return Math.round(value * factor) / factor;
}

/** `12.3 (11.9–13.0)`: the median and the spread of repeated runs. */
export function formatRepeated(r: Repeated, unit = '', digits = 3): string {
  if (!Number.isFinite(r.median)) return 'n/a';
  const f = (x: number) => formatNumber(x, digits);
  return r.runs.length > 1 ? `${f(r.median)}${unit} (${f(r.min)}–${f(r.max)})` : `${f(r.median)}${unit}`;
}

export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  const r = round(value, digits);
  return Math.abs(r) >= 10_000 ? Math.round(r).toLocaleString('en-US') : String(r);
}
