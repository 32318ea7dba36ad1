// Which color consumes, from the pods' reports in <release>-<service>-consumers.
import { describe, expect, it } from 'vitest';
import { consumerEntries, consumersView } from '../src/consumers.js';

const entry = (color: string, consuming: boolean) =>
  JSON.stringify({ color, consuming, since: '2026-12-06T10:00:00.000Z' });

describe('consumersView', () => {
  it('names the color whose pods consume, counting only pods that still exist', () => {
    const entries = consumerEntries({
      'shop-orders-blue-a': entry('blue', true),
      'shop-orders-blue-b': entry('blue', true),
      'shop-orders-green-a': entry('green', false),
      // Killed without stopping: its key stays, but the pod is gone.
      'shop-orders-green-dead': entry('green', true),
    });
    const view = consumersView(
      entries,
      new Set(['shop-orders-blue-a', 'shop-orders-blue-b', 'shop-orders-green-a']),
    );
    expect(view?.consuming).toBe('blue');
    expect(view?.colors).toEqual({
      blue: { reported: 2, consuming: 2 },
      green: { reported: 1, consuming: 0 },
    });
  });

  it('says both while a handover has not finished, none when no pod consumes', () => {
    const live = new Set(['b', 'g']);
    expect(
      consumersView(consumerEntries({ b: entry('blue', true), g: entry('green', true) }), live)?.consuming,
    ).toBe('both');
    expect(
      consumersView(consumerEntries({ b: entry('blue', false), g: entry('green', false) }), live)?.consuming,
    ).toBe('none');
  });

  it('is undefined when no live pod reports, and ignores entries it cannot read', () => {
    expect(consumersView(consumerEntries(undefined), new Set(['x']))).toBeUndefined();
    expect(consumerEntries({ x: 'not json', y: JSON.stringify({ color: 'red', consuming: true }) })).toEqual(
      [],
    );
  });
});
