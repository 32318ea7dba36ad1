import { describe, expect, it } from 'vitest';
import { DenyList } from '../src/deny-list.js';

describe('deny-list', () => {
  const minute = 60_000;

  it('denies a deleted user until every token issued before the deletion has expired', () => {
    let now = 1_000_000;
    const list = new DenyList(15 * minute, () => now);
    expect(list.add('u1', now - 5 * minute)).toBe(true);
    expect(list.has('u1')).toBe(true);
    expect(list.has('u2')).toBe(false);
    now += 9 * minute;
    expect(list.has('u1')).toBe(true);
    now += 2 * minute;
    expect(list.has('u1')).toBe(false);
    expect(list.size).toBe(0);
  });

  it('ignores deletions too old to matter and keeps the latest of repeated ones', () => {
    let now = 1_000_000;
    const list = new DenyList(15 * minute, () => now);
    expect(list.add('old', now - 16 * minute)).toBe(false);
    expect(list.has('old')).toBe(false);
    list.add('u1', now);
    list.add('u1', now - 10 * minute); // a redelivery of an earlier event does not shorten it
    now += 14 * minute;
    expect(list.has('u1')).toBe(true);
  });

  it('sweeps expired entries as new ones arrive', () => {
    let now = 0;
    const list = new DenyList(minute, () => now);
    for (let i = 0; i < 100; i++) list.add(`u${i}`, now);
    now += 2 * minute;
    list.add('fresh', now);
    expect(list.size).toBe(1);
  });
});
