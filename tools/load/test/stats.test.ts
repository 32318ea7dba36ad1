import { describe, expect, it } from 'vitest';
import { formatInterval, formatSummary } from '../src/report.js';
import { expectedFinal, LoadStats } from '../src/stats.js';

const run = { baseUrl: 'http://127.0.0.1:1', seed: 1, durationS: 10, drainS: 1 };
const target = { ordersPerSecond: 1, arrivalsPerSecond: 2, arrivals: 'constant' };

describe('LoadStats', () => {
  it('reports an interval, then starts the interval over while the totals go on', () => {
    const stats = new LoadStats();
    stats.arrivalStarted(true, false);
    stats.request('order', 10, 202, false);
    stats.request('browse', 30, 503, true);
    stats.request('browse', 20, 'network:econnrefused', true);
    const first = stats.roll(1, 1);
    expect(first).toMatchObject({ ordersPerSecond: 1, requestsPerSecond: 3, errors: 2 });
    expect(first.errorsByClass).toEqual({ '503': 1, 'network:econnrefused': 1 });
    expect(first.http.count).toBe(3);
    const second = stats.roll(2, 1);
    expect(second).toMatchObject({ ordersPerSecond: 0, requestsPerSecond: 0, errors: 0 });
    expect(second.http.count).toBe(0);

    const summary = stats.summary({ ...run, target });
    expect(summary.http.requests).toBe(3);
    expect(summary.http.errors).toBe(2);
    expect(summary.http.byKind.map((k) => [k.kind, k.count, k.errors])).toEqual([
      ['browse', 2, 2],
      ['order', 1, 0],
    ]);
  });

  it('follows each order to its final status and flags the unexpected ones', () => {
    const stats = new LoadStats();
    for (const kind of ['visa', 'decline', 'timeout'] as const) {
      stats.orderPlaced();
      stats.orderAccepted(kind);
    }
    stats.orderPlaced();
    stats.orderRejected(429);
    stats.orderFinished('visa', 'CONFIRMED', 120);
    stats.orderFinished('decline', 'CONFIRMED', 80);
    stats.orderUnfinished();
    const { orders } = stats.summary({ ...run, target });
    expect(orders).toMatchObject({ placed: 4, accepted: 3, rejected: 1, confirmed: 2, unfinished: 1 });
    expect(orders.byKind.decline).toEqual({ accepted: 1, finals: { CONFIRMED: 1 }, unexpected: 1 });
    expect(orders.byKind.visa?.unexpected).toBe(0);
    expect(orders.toFinal.count).toBe(2);
  });

  it('prints a live line and a summary people can read', () => {
    const stats = new LoadStats();
    stats.request('order', 12.5, 202, false);
    expect(formatInterval({ ...stats.roll(2, 2), phase: 'load' })).toMatch(
      /^ +2s +orders 0\.0\/s +req 0\.5\/s .*errors 0 +http p50 12\.5ms p99 12\.5ms/,
    );
    expect(formatSummary(stats.summary({ ...run, target }))).toMatch(/load summary: .*\n.*schedule/);
  });
});

describe('expectedFinal', () => {
  it('knows what each kind of order should end as', () => {
    expect(expectedFinal('visa', 'CONFIRMED')).toBe(true);
    expect(expectedFinal('decline', 'CANCELLED:PAYMENT_DECLINED')).toBe(true);
    expect(expectedFinal('timeout', 'CONFIRMED')).toBe(false);
    expect(expectedFinal('out-of-stock', 'CANCELLED:OUT_OF_STOCK')).toBe(true);
  });
});
