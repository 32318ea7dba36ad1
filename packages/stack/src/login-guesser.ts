// A password guesser for the chaos scenario: through the gateway, wrong
// passwords for one account, one every so often, while services are killed
// and Postgres restarts. Per-account throttling must hold through all of it:
// at most 10 wrong answers (401) before the account is locked (429), and the
// right password refused while it is.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InvariantResult } from './invariants.js';

const MAX_FAILURES = 10;

export interface GuessLog {
  /** Status of each wrong guess, in order (0: no answer). */
  guesses: number[];
  /** Status of the right password, sent once the account was locked. */
  rightWhileLocked?: number;
}

async function login(baseUrl: string, email: string, password: string): Promise<number> {
  try {
    const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

async function register(baseUrl: string, email: string, password: string): Promise<number> {
  try {
    const response = await fetch(`${baseUrl}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, name: 'Guessed' }),
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * Registers a victim, then guesses (one every `everyMs`) until the account is locked and the
 * right password was tried, or `maxGuesses`. Guesses lost to a killed service do not count
 * towards the lock, so it keeps going after the faults stop if it must.
 */
export async function guessPasswords(baseUrl: string, everyMs: number, maxGuesses = 80): Promise<GuessLog> {
  const email = `guessed-${randomUUID()}@example.com`;
  const password = 'the right password';
  // A service may be down at this moment too: try again (a 409 means an earlier try got through).
  for (let attempt = 1; ; attempt++) {
    const status = await register(baseUrl, email, password);
    if (status === 201 || status === 409) break;
    if (attempt >= 30) throw new Error(`registering the guessed account answered ${status}`);
    await sleep(1000);
  }
  const log: GuessLog = { guesses: [] };
  while (log.guesses.length < maxGuesses) {
    const status = await login(baseUrl, email, `guess ${log.guesses.length}`);
    log.guesses.push(status);
    if (status === 429) {
      log.rightWhileLocked = await login(baseUrl, email, password);
      break;
    }
    await sleep(everyMs);
  }
  return log;
}

export function guessInvariant(log: GuessLog): InvariantResult {
  const firstLock = log.guesses.indexOf(429);
  const wrongBeforeLock = log.guesses
    .slice(0, firstLock === -1 ? undefined : firstLock)
    .filter((s) => s === 401);
  const ok = firstLock !== -1 && wrongBeforeLock.length <= MAX_FAILURES && log.rightWhileLocked === 429;
  return {
    name: 'guessing one account is locked after at most 10 failures',
    ok,
    detail:
      firstLock === -1
        ? `no 429 in ${log.guesses.length} guesses`
        : `${wrongBeforeLock.length} wrong answers, then 429; the right password during the lock answered ${log.rightWhileLocked}`,
    ...(ok ? {} : { examples: [log.guesses] }),
  };
}
