import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/random.js';
import { ArrivalSchedule } from '../src/schedule.js';

const schedule = (overrides: Partial<ConstructorParameters<typeof ArrivalSchedule>[0]> = {}) =>
  new ArrivalSchedule({
    ratePerSecond: 10,
    process: 'constant',
    random: seededRandom(1),
    lateAfterMs: 100,
    maxLagMs: 2000,
    maxInFlight: 1000,
    ...overrides,
  });

describe('ArrivalSchedule', () => {
  it('spaces constant arrivals evenly, whatever the caller is doing', () => {
    const s = schedule();
    expect(s.due(0, 0).map((d) => d.dueAtMs)).toEqual([0]);
    expect(s.due(350, 0).map((d) => d.dueAtMs)).toEqual([100, 200, 300]);
  });

  it('marks arrivals started late, and drops those beyond the lag limit', () => {
    const s = schedule({ maxLagMs: 500 });
    const decisions = s.due(1000, 0);
    expect(decisions.filter((d) => d.action === 'drop').map((d) => d.dueAtMs)).toEqual([
      0, 100, 200, 300, 400,
    ]);
    const started = decisions.filter((d) => d.action === 'start');
    expect(started.map((d) => d.dueAtMs)).toEqual([500, 600, 700, 800, 900, 1000]);
    // Late means more than 100 ms behind: 900 is exactly 100 behind, 1000 on time.
    expect(started.filter((d) => d.action === 'start' && d.late).length).toBe(4);
  });

  it('drops arrivals while too many are outstanding, counting the ones it starts', () => {
    const decisions = schedule({ maxInFlight: 3 }).due(400, 1);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'start', 'drop', 'drop', 'drop']);
    expect(decisions.filter((d) => d.action === 'drop').every((d) => d.reason === 'saturated')).toBe(true);
  });

  it('keeps the mean rate of a Poisson process', () => {
    const s = schedule({ process: 'poisson', ratePerSecond: 50, maxLagMs: Number.POSITIVE_INFINITY });
    const count = s.due(200_000, 0).length;
    // 10,000 expected; a Poisson count's standard deviation is 100.
    expect(count).toBeGreaterThan(9600);
    expect(count).toBeLessThan(10_400);
  });

  it('refuses a rate of 0', () => {
    expect(() => schedule({ ratePerSecond: 0 })).toThrow(/above 0/);
  });
});
