// What patches/kafkajs+2.2.4.patch changes in kafkajs, checked on its RequestQueue: a broker
// connection's timers, counted with fake ones.
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (
  options: object,
) => {
  scheduleRequestTimeoutCheck(): void;
  scheduleCheckPendingRequests(): void;
  destroy(): void;
};

const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const queue = () =>
  new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: true,
    clientId: 'test',
    broker: 'localhost:9092',
    logger,
  });

describe('kafkajs as patched', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('checks its requests for a timeout once a second, not ten times', () => {
    const interval = vi.spyOn(globalThis, 'setInterval');
    const q = queue();
    q.scheduleRequestTimeoutCheck();
    expect(interval).toHaveBeenCalledWith(expect.any(Function), 1000);
    q.destroy();
    interval.mockRestore();
  });

  it('schedules no pending-request check when nothing is pending and nothing throttles', () => {
    const q = queue();
    q.scheduleCheckPendingRequests();
    expect(vi.getTimerCount()).toBe(0);
  });
});
