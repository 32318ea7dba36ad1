import { describe, expect, it } from 'vitest';
import { Coalescer, groupsOf } from '../src/coalescer.js';

const submission = (n: number) => ({ items: Array.from({ length: n }, (_, i) => i) });

describe('groupsOf', () => {
  it('packs consecutive submissions up to the limit, keeps each whole, and never leaves one out', () => {
    const sizes = (groups: { items: number[] }[][]) => groups.map((g) => g.map((s) => s.items.length));
    expect(sizes(groupsOf([submission(1), submission(2), submission(3), submission(1)], 4))).toEqual([
      [1, 2],
      [3, 1],
    ]);
    // Bigger than the limit: alone in its group.
    expect(sizes(groupsOf([submission(1), submission(9), submission(1)], 4))).toEqual([[1], [9], [1]]);
    expect(groupsOf([], 4)).toEqual([]);
  });
});

describe('Coalescer', () => {
  it('runs what is submitted in one turn together and gives each caller its own results', async () => {
    const runs: string[][] = [];
    const coalescer = new Coalescer(async (items: string[]) => {
      runs.push(items);
      return items.map((item) => item.toUpperCase());
    }, 10);
    const [a, b] = await Promise.all([coalescer.submit(['a1', 'a2']), coalescer.submit(['b1'])]);
    expect(runs).toEqual([['a1', 'a2', 'b1']]);
    expect(a).toEqual(['A1', 'A2']);
    expect(b).toEqual(['B1']);
    // A later turn is a run of its own.
    expect(await coalescer.submit(['c'])).toEqual(['C']);
    expect(runs).toHaveLength(2);
  });

  it('splits a turn into groups of at most maxItems, and a group declined or failed reaches only its callers', async () => {
    const coalescer = new Coalescer(async (items: number[]) => {
      if (items.includes(-1)) throw new Error('broken group');
      return items.length > 1 ? items : undefined;
    }, 2);
    const results = await Promise.allSettled([
      coalescer.submit([1, 2]),
      coalescer.submit([3]),
      coalescer.submit([-1]),
    ]);
    expect(results).toEqual([
      { status: 'fulfilled', value: [1, 2] },
      { status: 'rejected', reason: new Error('broken group') },
      { status: 'rejected', reason: new Error('broken group') },
    ]);
    // A group of one that run declines: the caller is told to go on its own.
    expect(await coalescer.submit([5])).toBeUndefined();
  });
});
