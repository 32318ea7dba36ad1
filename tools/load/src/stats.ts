// What a run counts: each request by kind and status, the schedule (started,
// late, dropped), each order from POST to its final status. Counters keep an
// interval value (for the live line) and a total (for the summary).
import { IntervalLatency, type LatencySummary } from './histogram.js';
import type { OrderKind } from './options.js';

/** The value under `key`, made by `make` the first time. */
function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

class Count {
  interval = 0;
  total = 0;
  add(n = 1): void {
    this.interval += n;
    this.total += n;
  }
  roll(): number {
    const value = this.interval;
    this.interval = 0;
    return value;
  }
}

class Tally {
  readonly #counts = new Map<string, Count>();
  add(key: string, n = 1): void {
    getOrCreate(this.#counts, key, () => new Count()).add(n);
  }
  interval(): Record<string, number> {
    return Object.fromEntries(
      [...this.#counts].filter(([, c]) => c.interval > 0).map(([k, c]) => [k, c.interval]),
    );
  }
  total(): Record<string, number> {
    return Object.fromEntries([...this.#counts].map(([k, c]) => [k, c.total]));
  }
  roll(): void {
    for (const count of this.#counts.values()) count.roll();
  }
  get intervalSum(): number {
    return [...this.#counts.values()].reduce((sum, c) => sum + c.interval, 0);
  }
  get totalSum(): number {
    return [...this.#counts.values()].reduce((sum, c) => sum + c.total, 0);
  }
}

/** How a request ended: its status code, or the network error's code. */
export type Outcome = number | `network:${string}`;

/** The error class of an unexpected outcome, for the error tallies. */
export function errorClass(outcome: Outcome): string {
  if (typeof outcome === 'string') return outcome;
  return String(outcome);
}

/** `CONFIRMED`, or `CANCELLED:<reason>`. */
export type FinalStatus = string;

/** What each kind of order should end as; anything else is reported as unexpected. */
export function expectedFinal(kind: OrderKind, final: FinalStatus): boolean {
  switch (kind) {
    case 'visa':
    case 'ship':
      return final === 'CONFIRMED';
    case 'no-carrier':
      return final === 'CANCELLED:SHIPPING_UNAVAILABLE';
    case 'decline':
      return final === 'CANCELLED:PAYMENT_DECLINED';
    case 'timeout':
      return final === 'CANCELLED:PAYMENT_UNAVAILABLE' || final === 'CANCELLED:TIMEOUT';
    case 'out-of-stock':
      return final === 'CONFIRMED' || final === 'CANCELLED:OUT_OF_STOCK';
  }
}

class RequestKindStats {
  readonly latency = new IntervalLatency();
  readonly outcomes = new Tally();
  readonly errors = new Tally();
}

export interface IntervalReport {
  /** Seconds since arrivals began. */
  elapsedS: number;
  intervalS: number;
  ordersPerSecond: number;
  requestsPerSecond: number;
  late: number;
  dropped: number;
  errors: number;
  errorsByClass: Record<string, number>;
  http: LatencySummary;
  confirmedPerSecond: number;
  cancelledPerSecond: number;
  toFinal: LatencySummary;
  inFlight: number;
  polling: number;
}

export interface RequestKindSummary {
  kind: string;
  count: number;
  errors: number;
  outcomes: Record<string, number>;
  latency: LatencySummary;
}

export interface LoadSummary {
  baseUrl: string;
  seed: number;
  /** Seconds of arrivals (the schedule), then of draining. */
  durationS: number;
  drainS: number;
  /** Orders per second, and arrivals of every kind per second (polls come on top). */
  target: { ordersPerSecond: number; arrivalsPerSecond: number; arrivals: string };
  schedule: {
    planned: number;
    started: number;
    late: number;
    dropped: number;
    droppedByReason: Record<string, number>;
    /** Started arrivals per second; orders are those of the order kinds. */
    achievedArrivalsPerSecond: number;
    achievedOrdersPerSecond: number;
  };
  http: {
    requests: number;
    requestsPerSecond: number;
    errors: number;
    errorsByClass: Record<string, number>;
    latency: LatencySummary;
    byKind: RequestKindSummary[];
  };
  orders: {
    placed: number;
    accepted: number;
    rejected: number;
    rejectedBy: Record<string, number>;
    confirmed: number;
    cancelled: number;
    cancelledByReason: Record<string, number>;
    unfinished: number;
    /** Per kind of order: final statuses, and how many were not what that kind should end as. */
    byKind: Record<string, { accepted: number; finals: Record<string, number>; unexpected: number }>;
    toFinal: LatencySummary;
  };
}

export class LoadStats {
  readonly #kinds = new Map<string, RequestKindStats>();
  readonly #http = new IntervalLatency();
  readonly #requests = new Count();
  readonly #errors = new Tally();
  readonly #planned = new Count();
  readonly #started = new Count();
  readonly #startedOrders = new Count();
  readonly #late = new Count();
  readonly #dropped = new Tally();
  readonly #placed = new Count();
  readonly #accepted = new Tally();
  readonly #rejected = new Tally();
  readonly #finals = new Tally();
  readonly #finalsByKind = new Map<string, Tally>();
  readonly #unexpected = new Tally();
  readonly #unfinished = new Count();
  readonly #toFinal = new IntervalLatency();
  inFlight = 0;
  polling = 0;

  #kind(kind: string): RequestKindStats {
    return getOrCreate(this.#kinds, kind, () => new RequestKindStats());
  }

  /** One HTTP request: its latency and how it ended; `error` when that was not what the caller expected. */
  request(kind: string, ms: number, outcome: Outcome, error: boolean): void {
    const stats = this.#kind(kind);
    stats.latency.record(ms);
    stats.outcomes.add(String(outcome));
    this.#http.record(ms);
    this.#requests.add();
    if (error) {
      stats.errors.add(errorClass(outcome));
      this.#errors.add(errorClass(outcome));
    }
  }

  arrivalPlanned(): void {
    this.#planned.add();
  }
  arrivalStarted(isOrder: boolean, late: boolean): void {
    this.#started.add();
    if (isOrder) this.#startedOrders.add();
    if (late) this.#late.add();
  }
  arrivalDropped(reason: string): void {
    this.#dropped.add(reason);
  }

  orderPlaced(): void {
    this.#placed.add();
  }
  orderAccepted(kind: OrderKind): void {
    this.#accepted.add(kind);
  }
  orderRejected(outcome: Outcome): void {
    this.#rejected.add(errorClass(outcome));
  }
  orderFinished(kind: OrderKind, final: FinalStatus, ms: number): void {
    this.#finals.add(final);
    getOrCreate(this.#finalsByKind, kind, () => new Tally()).add(final);
    if (!expectedFinal(kind, final)) this.#unexpected.add(kind);
    this.#toFinal.record(ms);
  }
  orderUnfinished(): void {
    this.#unfinished.add();
  }

  /** The interval's figures; the interval starts over. */
  roll(elapsedS: number, intervalS: number): IntervalReport {
    const finals = this.#finals.interval();
    const confirmed = finals.CONFIRMED ?? 0;
    const cancelled = Object.entries(finals)
      .filter(([status]) => status.startsWith('CANCELLED'))
      .reduce((sum, [, n]) => sum + n, 0);
    const per = (n: number) => Math.round((n / intervalS) * 10) / 10;
    const report: IntervalReport = {
      elapsedS: Math.round(elapsedS * 10) / 10,
      intervalS,
      ordersPerSecond: per(this.#startedOrders.interval),
      requestsPerSecond: per(this.#requests.interval),
      late: this.#late.interval,
      dropped: this.#dropped.intervalSum,
      errors: this.#errors.intervalSum,
      errorsByClass: this.#errors.interval(),
      http: this.#http.roll(),
      confirmedPerSecond: per(confirmed),
      cancelledPerSecond: per(cancelled),
      toFinal: this.#toFinal.roll(),
      inFlight: this.inFlight,
      polling: this.polling,
    };
    for (const count of [
      this.#requests,
      this.#planned,
      this.#started,
      this.#startedOrders,
      this.#late,
      this.#placed,
      this.#unfinished,
    ])
      count.roll();
    for (const tally of [
      this.#errors,
      this.#dropped,
      this.#accepted,
      this.#rejected,
      this.#finals,
      this.#unexpected,
      ...this.#finalsByKind.values(),
    ])
      tally.roll();
    for (const kind of this.#kinds.values()) {
      kind.latency.roll();
      kind.outcomes.roll();
      kind.errors.roll();
    }
    return report;
  }

  summary(run: {
    baseUrl: string;
    seed: number;
    durationS: number;
    drainS: number;
    target: LoadSummary['target'];
  }): LoadSummary {
    const per = (n: number) => (run.durationS > 0 ? Math.round((n / run.durationS) * 100) / 100 : 0);
    const finals = this.#finals.total();
    const cancelledByReason = Object.fromEntries(
      Object.entries(finals)
        .filter(([status]) => status.startsWith('CANCELLED'))
        .map(([status, n]) => [status.slice('CANCELLED:'.length), n]),
    );
    const accepted = this.#accepted.total();
    const unexpected = this.#unexpected.total();
    return {
      ...run,
      schedule: {
        planned: this.#planned.total,
        started: this.#started.total,
        late: this.#late.total,
        dropped: this.#dropped.totalSum,
        droppedByReason: this.#dropped.total(),
        achievedArrivalsPerSecond: per(this.#started.total),
        achievedOrdersPerSecond: per(this.#startedOrders.total),
      },
      http: {
        requests: this.#requests.total,
        requestsPerSecond: per(this.#requests.total),
        errors: this.#errors.totalSum,
        errorsByClass: this.#errors.total(),
        latency: this.#http.total.summary(),
        byKind: [...this.#kinds]
          .map(([kind, stats]) => ({
            kind,
            count: stats.latency.total.count,
            errors: stats.errors.totalSum,
            outcomes: stats.outcomes.total(),
            latency: stats.latency.total.summary(),
          }))
          .sort((a, b) => b.count - a.count),
      },
      orders: {
        placed: this.#placed.total,
        accepted: this.#accepted.totalSum,
        rejected: this.#rejected.totalSum,
        rejectedBy: this.#rejected.total(),
        confirmed: finals.CONFIRMED ?? 0,
        cancelled: Object.values(cancelledByReason).reduce((a, b) => a + b, 0),
        cancelledByReason,
        unfinished: this.#unfinished.total,
        byKind: Object.fromEntries(
          Object.entries(accepted).map(([kind, n]) => [
            kind,
            {
              accepted: n,
              finals: this.#finalsByKind.get(kind)?.total() ?? {},
              unexpected: unexpected[kind] ?? 0,
            },
          ]),
        ),
        toFinal: this.#toFinal.total.summary(),
      },
    };
  }
}
