import { describe, expect, it } from 'vitest';
import {
  type AttemptDecision,
  decideAttempt,
  LOGIN_THROTTLE,
  type ThrottleState,
} from '../src/domain/login-throttle.js';

const start = new Date('2026-12-06T12:00:00.000Z');
const at = (ms: number) => new Date(start.getTime() + ms);

/** Feeds `count` attempts `gapMs` apart through the policy, as the store would. */
function attempts(count: number, gapMs: number, from = 0, initial?: ThrottleState) {
  let state = initial;
  const decisions: AttemptDecision[] = [];
  for (let i = 0; i < count; i++) {
    const decision = decideAttempt(state, at(from + i * gapMs));
    decisions.push(decision);
    if (decision.allowed) state = decision.next;
  }
  return { decisions, state };
}

describe('login throttling per account', () => {
  it('lets 10 attempts through in 15 minutes, then locks for a minute', () => {
    const { decisions } = attempts(11, 1000);
    expect(decisions.slice(0, 10).every((decision) => decision.allowed)).toBe(true);
    // The tenth, at 9 s, took the lock until 69 s.
    expect(decisions[10]).toEqual({ allowed: false, retryAfterSeconds: 59 });
  });

  it('forgets failures older than the window', () => {
    const { state } = attempts(9, 1000);
    const later = decideAttempt(state, at(LOGIN_THROTTLE.windowMs + 10_000));
    expect(later.allowed && later.next.failures).toBe(1);
  });

  it('doubles the lock with each one, up to an hour', () => {
    let state: ThrottleState | undefined;
    let from = 0;
    const locks: number[] = [];
    for (let lock = 0; lock < 8; lock++) {
      const run = attempts(11, 0, from, state);
      state = run.state;
      const refused = run.decisions[10]!;
      expect(refused.allowed).toBe(false);
      if (!refused.allowed) locks.push(refused.retryAfterSeconds);
      from += refused.allowed ? 0 : refused.retryAfterSeconds * 1000;
    }
    expect(locks).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600]);
  });

  it('starts over after a day without failures', () => {
    const { state } = attempts(10, 0);
    const dayLater = decideAttempt(state, at(LOGIN_THROTTLE.memoryMs + 1));
    expect(dayLater.allowed && dayLater.next).toMatchObject({ failures: 1, locks: 0, lockedUntil: null });
  });
});
