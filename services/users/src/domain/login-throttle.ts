// Throttling failed sign-ins per account, whatever address they come from (the
// gateway's per-IP limit cannot see a guesser spread over many addresses, and
// a local stack raises it). Pure: the state of one account's recent failures
// in, the decision out; login-throttles.ts keeps the state in the database.
//
// Every attempt is counted before its password is checked, and a success
// clears the count: counted after, parallel guesses would all be checked
// against the same count. After `maxFailures` within `window`, the account is
// locked for `firstLockMs`, doubling with each lock (up to `maxLockMs`) until
// a day passes without a failure. While locked, no password is checked at
// all, so the right one is refused exactly like a wrong one.

export interface ThrottlePolicy {
  maxFailures: number;
  windowMs: number;
  firstLockMs: number;
  maxLockMs: number;
  /** How long an account's failures and locks are remembered after its last failure. */
  memoryMs: number;
}

export const LOGIN_THROTTLE: ThrottlePolicy = {
  maxFailures: 10,
  windowMs: 15 * 60_000,
  firstLockMs: 60_000,
  maxLockMs: 60 * 60_000,
  memoryMs: 24 * 60 * 60_000,
};

/** One account's recent failures, as stored. */
export interface ThrottleState {
  /** Attempts counted in the current window (a success clears them). */
  failures: number;
  windowStartedAt: Date;
  lockedUntil: Date | null;
  /** Locks so far; each doubles the next. */
  locks: number;
  /** When the state may be forgotten. */
  expiresAt: Date;
}

export type AttemptDecision =
  | { allowed: false; retryAfterSeconds: number }
  | { allowed: true; next: ThrottleState };

/** Whether an attempt at `now` may check a password, and the state that counts it. */
export function decideAttempt(
  state: ThrottleState | undefined,
  now: Date,
  policy: ThrottlePolicy = LOGIN_THROTTLE,
): AttemptDecision {
  const current = state && state.expiresAt > now ? state : undefined;
  if (current?.lockedUntil && current.lockedUntil > now) {
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((current.lockedUntil.getTime() - now.getTime()) / 1000)),
    };
  }
  const windowOpen =
    current !== undefined && now.getTime() - current.windowStartedAt.getTime() < policy.windowMs;
  const failures = (windowOpen ? current.failures : 0) + 1;
  const windowStartedAt = windowOpen ? current.windowStartedAt : now;
  const locks = current?.locks ?? 0;
  const expiresAt = new Date(now.getTime() + policy.memoryMs);
  if (failures < policy.maxFailures) {
    return { allowed: true, next: { failures, windowStartedAt, lockedUntil: null, locks, expiresAt } };
  }
  // This attempt is the last one allowed: if it fails too, the lock holds; if it succeeds,
  // the success clears it.
  const lockMs = Math.min(policy.firstLockMs * 2 ** locks, policy.maxLockMs);
  return {
    allowed: true,
    next: {
      failures: 0,
      windowStartedAt: now,
      lockedUntil: new Date(now.getTime() + lockMs),
      locks: locks + 1,
      expiresAt: new Date(Math.max(expiresAt.getTime(), now.getTime() + lockMs)),
    },
  };
}
