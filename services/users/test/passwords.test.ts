import { hash } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import {
  ARGON2_OPTIONS,
  hashPassword,
  needsRehash,
  PasswordChecker,
  verifyPassword,
} from '../src/passwords.js';

describe('passwords', () => {
  it('are hashed with argon2id at the OWASP parameters, salted per hash', async () => {
    const first = await hashPassword('correct horse battery');
    expect(first).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hashPassword('correct horse battery')).not.toBe(first);
    expect(await verifyPassword(first, 'correct horse battery')).toBe(true);
    expect(await verifyPassword(first, 'correct horse batterY')).toBe(false);
    expect(needsRehash(first)).toBe(false);
  });

  it('match however the same characters were composed (NFKC)', async () => {
    const stored = await hashPassword('caf\u00e9-au-lait');
    expect(await verifyPassword(stored, 'cafe\u0301-au-lait')).toBe(true);
  });

  it('never verify against a scrubbed or malformed hash', async () => {
    expect(await verifyPassword('', 'anything at all')).toBe(false);
    expect(await verifyPassword('not-a-hash', 'anything at all')).toBe(false);
    expect(needsRehash('')).toBe(true);
  });

  it('want a rehash when made with older parameters', async () => {
    const weaker = await hash('correct horse battery', { ...ARGON2_OPTIONS, memoryCost: 4096 });
    expect(needsRehash(weaker)).toBe(true);
  });

  it('take about as long to refuse an unknown account as a wrong password', async () => {
    const checker = new PasswordChecker();
    await checker.warmUp();
    const account = { passwordHash: await hashPassword('correct horse battery') };
    const time = async (work: () => Promise<boolean>) => {
      const started = performance.now();
      expect(await work()).toBe(false);
      return performance.now() - started;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(() => checker.check(account, 'wrong password')));
      unknown.push(await time(() => checker.check(null, 'wrong password')));
    }
    // Without the dummy hash an unknown email answers in microseconds; with it, within noise of a real check.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });
});
