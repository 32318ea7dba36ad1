// One run: set up, then start arrivals on the schedule until the duration is
// over (or the caller stops it), report every interval, let the orders being
// polled finish, and sum up.
import { setTimeout as sleep } from 'node:timers/promises';
import { ShopHttp } from './http.js';
import { type ArrivalKind, arrivalRates, type LoadOptions, type OrderKind, orderKinds } from './options.js';
import { pickWeighted, seededRandom } from './random.js';
import { ArrivalSchedule } from './schedule.js';
import { type IntervalReport, LoadStats, type LoadSummary } from './stats.js';
import { ShopTraffic, type TrafficHooks } from './traffic.js';

export interface LoadHooks extends TrafficHooks {
  /** Every interval, and once more for the last, partial one. */
  onInterval?: (report: IntervalReport & { phase: 'load' | 'drain' }) => void;
  /** After setup (products and customers exist), before the first arrival. */
  beforeArrivals?: () => Promise<void> | void;
  /** Ends the arrivals early; the run then drains and sums up as usual. */
  signal?: AbortSignal;
}

const isOrder = (kind: ArrivalKind): kind is OrderKind => (orderKinds as readonly string[]).includes(kind);

export async function runLoad(options: LoadOptions, hooks: LoadHooks = {}): Promise<LoadSummary> {
  const stats = new LoadStats();
  const random = seededRandom(options.seed);
  const http = new ShopHttp(options.baseUrl, stats, options);
  const traffic = new ShopTraffic(http, stats, options, random, hooks);
  const rates = arrivalRates(options);
  const totalRate = rates.reduce((sum, [, rate]) => sum + rate, 0);
  let phase: 'load' | 'drain' = 'load';
  let reporter: NodeJS.Timeout | undefined;
  try {
    await traffic.setup();
    // The setup's requests are not part of the run's figures.
    stats.roll(0, 1);
    await hooks.beforeArrivals?.();

    const schedule = new ArrivalSchedule({
      ratePerSecond: totalRate,
      process: options.arrivals,
      random,
      lateAfterMs: options.lateAfterMs,
      maxLagMs: options.maxLagMs,
      maxInFlight: options.maxInFlight,
    });
    const start = performance.now();
    const end = options.durationMs > 0 ? start + options.durationMs : Number.POSITIVE_INFINITY;
    let lastReport = start;
    const report = () => {
      const now = performance.now();
      const intervalS = (now - lastReport) / 1000;
      lastReport = now;
      stats.polling = traffic.pollingOrders;
      const figures = stats.roll((now - start) / 1000, Math.max(intervalS, 0.001));
      hooks.onInterval?.({ ...figures, phase });
    };
    reporter = setInterval(report, options.intervalMs);

    const arrivals = new Set<Promise<void>>();
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        for (const decision of schedule.due(Math.min(now, end) - start, stats.inFlight)) {
          const kind = pickWeighted(rates, random);
          stats.arrivalPlanned();
          if (decision.action === 'drop') {
            stats.arrivalDropped(decision.reason);
            continue;
          }
          stats.arrivalStarted(isOrder(kind), decision.late);
          stats.inFlight++;
          const arrival = traffic
            .arrive(kind)
            .catch(() => undefined)
            .finally(() => {
              stats.inFlight--;
              arrivals.delete(arrival);
            });
          arrivals.add(arrival);
        }
        if (now >= end || hooks.signal?.aborted) return resolve();
        const untilNext = start + schedule.nextDueMs - performance.now();
        setTimeout(tick, Math.max(0, Math.min(untilNext, 50)));
      };
      tick();
    });
    const arrivalsEnded = performance.now();

    phase = 'drain';
    // Arrivals still in flight finish within the request timeout; then their orders are polled.
    await Promise.race([Promise.allSettled([...arrivals]), sleep(options.requestTimeoutMs * 2)]);
    await traffic.drain(options.drainMs);
    clearInterval(reporter);
    reporter = undefined;
    report();
    return stats.summary({
      baseUrl: options.baseUrl,
      seed: options.seed,
      durationS: Math.round((arrivalsEnded - start) / 100) / 10,
      drainS: Math.round((performance.now() - arrivalsEnded) / 100) / 10,
      target: {
        ordersPerSecond: options.ordersPerSecond,
        arrivalsPerSecond: Math.round(totalRate * 100) / 100,
        arrivals: options.arrivals,
      },
    });
  } finally {
    if (reporter) clearInterval(reporter);
    await http.destroy();
  }
}
