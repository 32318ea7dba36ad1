import { describe, expect, it } from 'vitest';
import { guessInvariant } from '../src/login-guesser.js';

describe('the chaos guesser invariant', () => {
  it('holds when at most 10 wrong answers came before the lock and the right password was refused', () => {
    expect(guessInvariant({ guesses: [...Array(10).fill(401), 429], rightWhileLocked: 429 }).ok).toBe(true);
    // An attempt lost to a kill may have been counted: fewer 401s is fine.
    expect(
      guessInvariant({ guesses: [401, 502, 401, 0, ...Array(6).fill(401), 429], rightWhileLocked: 429 }).ok,
    ).toBe(true);
  });

  it('fails on an 11th wrong answer, on no lock at all, or on the right password let in', () => {
    expect(guessInvariant({ guesses: [...Array(11).fill(401), 429], rightWhileLocked: 429 }).ok).toBe(false);
    expect(guessInvariant({ guesses: Array(20).fill(401) }).ok).toBe(false);
    expect(guessInvariant({ guesses: [...Array(10).fill(401), 429], rightWhileLocked: 200 }).ok).toBe(false);
  });
});
