// When supervision replaces a consumer (consumption-gate.ts): the pure decision.
import { consumerFailure } from '@shop/platform';
import { describe, expect, it } from 'vitest';

const base = { started: true, lastActivityAt: 1000, now: 1000, stallMs: 30_000 };

describe('consumerFailure', () => {
  it('is fine while a started consumer shows signs of life within the stall window', () => {
    expect(consumerFailure(base)).toBeUndefined();
    expect(consumerFailure({ ...base, now: 1000 + 30_000 })).toBeUndefined();
  });

  it('calls a consumer quiet for longer than the window stalled, with how long', () => {
    expect(consumerFailure({ ...base, now: 1000 + 31_000 })).toBe(
      'stalled: no fetch, batch or heartbeat for 31 s',
    );
  });

  it('names a crash kafkajs will not restart from, however recent the last sign of life', () => {
    expect(consumerFailure({ ...base, crashedForGood: 'The group is unknown' })).toBe(
      'crashed and not restarted by kafkajs: The group is unknown',
    );
  });

  it('never judges a consumer that is not started (starting, or stopping)', () => {
    expect(consumerFailure({ ...base, started: false, now: 1e9, crashedForGood: 'x' })).toBeUndefined();
  });
});
