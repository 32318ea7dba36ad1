// Latency distributions: HDR histograms (hdr-histogram-js), so percentiles
// stay exact to 3 significant digits in fixed memory however long the run
// (a Deployment may run for days). Values are recorded in microseconds.
import { build, type Histogram } from 'hdr-histogram-js';

const newHistogram = (): Histogram =>
  build({ numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, autoResize: true });

export interface LatencySummary {
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export class Latency {
  readonly #histogram = newHistogram();

  record(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  /** The value at `percentile` (0–100) in ms; 0 when nothing was recorded. */
  percentile(percentile: number): number {
    if (this.count === 0) return 0;
    return this.#histogram.getValueAtPercentile(percentile) / 1000;
  }

  add(other: Latency): void {
    this.#histogram.add(other.#histogram);
  }

  reset(): void {
    this.#histogram.reset();
  }

  summary(): LatencySummary {
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return {
      count: this.count,
      p50: round(this.percentile(50)),
      p90: round(this.percentile(90)),
      p99: round(this.percentile(99)),
      max: round(this.count === 0 ? 0 : this.#histogram.maxValue / 1000),
      mean: round(this.count === 0 ? 0 : this.#histogram.mean / 1000),
    };
  }
}

/** A distribution over the current interval and over the whole run. */
export class IntervalLatency {
  readonly interval = new Latency();
  readonly total = new Latency();

  record(ms: number): void {
    this.interval.record(ms);
    this.total.record(ms);
  }

  /** The interval's summary; the interval starts over. */
  roll(): LatencySummary {
    const summary = this.interval.summary();
    this.interval.reset();
    return summary;
  }
}
