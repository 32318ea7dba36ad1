// The open model's clock. Arrivals are due at times fixed in advance by the
// rate (evenly spaced, or a Poisson process), whatever the system under test
// is doing: a slow answer never delays the next request. Each due arrival is
// started, or dropped when it cannot start usefully — the generator itself
// fell too far behind its own schedule, or too many requests are already
// outstanding (an open model must bound its memory somewhere, and says so).
import type { Random } from './random.js';

export type ArrivalProcess = 'constant' | 'poisson';

export interface ScheduleOptions {
  /** Arrivals per second, all kinds together. */
  ratePerSecond: number;
  process: ArrivalProcess;
  random: Random;
  /** An arrival started later than this after its due time counts as late. */
  lateAfterMs: number;
  /** An arrival not started within this of its due time is dropped (the generator is lagging). */
  maxLagMs: number;
  /** No arrival starts while this many are outstanding; it is dropped instead. */
  maxInFlight: number;
}

export type Decision =
  | { action: 'start'; dueAtMs: number; lateByMs: number; late: boolean }
  | { action: 'drop'; dueAtMs: number; reason: 'lagging' | 'saturated' };

export class ArrivalSchedule {
  #nextDueMs: number;

  constructor(readonly options: ScheduleOptions) {
    if (!(options.ratePerSecond > 0)) throw new Error('the arrival rate must be above 0');
    // Evenly spaced arrivals start at once; a Poisson process starts after its first gap.
    this.#nextDueMs = options.process === 'constant' ? 0 : this.#gapMs();
  }

  /** When the next arrival is due, in ms since the start. */
  get nextDueMs(): number {
    return this.#nextDueMs;
  }

  #gapMs(): number {
    const meanMs = 1000 / this.options.ratePerSecond;
    if (this.options.process === 'constant') return meanMs;
    // Exponential inter-arrival times; 1 - random() is in (0, 1], so the log is finite.
    return -Math.log(1 - this.options.random()) * meanMs;
  }

  /**
   * Decides every arrival due by `nowMs` (ms since the start). `inFlight` is
   * how many arrivals are outstanding; each started one counts against the cap
   * for the rest of this call.
   */
  due(nowMs: number, inFlight: number): Decision[] {
    const decisions: Decision[] = [];
    let outstanding = inFlight;
    while (this.#nextDueMs <= nowMs) {
      const dueAtMs = this.#nextDueMs;
      const lateByMs = nowMs - dueAtMs;
      if (lateByMs > this.options.maxLagMs) {
        decisions.push({ action: 'drop', dueAtMs, reason: 'lagging' });
      } else if (outstanding >= this.options.maxInFlight) {
        decisions.push({ action: 'drop', dueAtMs, reason: 'saturated' });
      } else {
        outstanding++;
        decisions.push({ action: 'start', dueAtMs, lateByMs, late: lateByMs > this.options.lateAfterMs });
      }
      this.#nextDueMs += this.#gapMs();
    }
    return decisions;
  }
}
