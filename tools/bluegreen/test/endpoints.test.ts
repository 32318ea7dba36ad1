import { describe, expect, it } from 'vitest';
import { endpointVerdict } from '../src/endpoints.js';
import { pod } from './support/fixtures.js';

const green = [pod('g1'), pod('g2')];
const blue = [pod('b1', { labels: { 'shop.example/color': 'blue' } })];

describe('endpointVerdict', () => {
  it('is done when exactly the ready pods of the color are listed', () => {
    const v = endpointVerdict(
      [
        { podName: 'g1', ready: true, terminating: false },
        { podName: 'g2', ready: true, terminating: false },
      ],
      green,
      'green',
      2,
    );
    expect(v).toMatchObject({ done: true, readyOfColor: 2, others: 0 });
  });

  it('is not done while pods of the other color are still listed', () => {
    const v = endpointVerdict(
      [
        { podName: 'g1', ready: true, terminating: false },
        { podName: 'g2', ready: true, terminating: false },
        { podName: 'b1', ready: true, terminating: false },
      ],
      [...green, ...blue],
      'green',
      2,
    );
    expect(v).toMatchObject({ done: false, others: 1 });
    expect(v.summary).toContain('1 other endpoint(s) still listed');
  });

  it('is not done with a missing, not-ready or terminating endpoint', () => {
    expect(
      endpointVerdict([{ podName: 'g1', ready: true, terminating: false }], green, 'green', 2).done,
    ).toBe(false);
    expect(
      endpointVerdict(
        [
          { podName: 'g1', ready: true, terminating: false },
          { podName: 'g2', ready: false, terminating: false },
        ],
        green,
        'green',
        2,
      ).done,
    ).toBe(false);
    expect(
      endpointVerdict(
        [
          { podName: 'g1', ready: true, terminating: false },
          { podName: 'g2', ready: true, terminating: true },
        ],
        green,
        'green',
        2,
      ).done,
    ).toBe(false);
  });

  it('counts a dual-stack pod once', () => {
    const v = endpointVerdict(
      [
        { podName: 'g1', ready: true, terminating: false },
        { podName: 'g1', ready: true, terminating: false },
        { podName: 'g2', ready: true, terminating: false },
      ],
      green,
      'green',
      2,
    );
    expect(v.done).toBe(true);
  });

  it('is never done for an empty color', () => {
    expect(endpointVerdict([], [], 'green', 0).done).toBe(false);
  });

  it('counts endpoints that are not pods as others', () => {
    expect(
      endpointVerdict([{ podName: undefined, ready: true, terminating: false }], green, 'green', 0).others,
    ).toBe(1);
  });
});
