import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../src/backoff.js';
import {
  isRetryableStatus,
  isSafeToRetry,
  isTransientInfrastructureError,
  retryAfterMs,
} from '../src/retry-policy.js';

describe('fullJitterDelay', () => {
  const policy = { baseMs: 100, capMs: 1000 };

  it('grows the ceiling exponentially up to the cap', () => {
    expect(fullJitterDelay(0, policy, () => 0.999)).toBe(99);
    expect(fullJitterDelay(3, policy, () => 0.999)).toBe(799);
    expect(fullJitterDelay(10, policy, () => 0.999)).toBe(999);
  });

  it('spreads delays over the whole range, down to zero', () => {
    expect(fullJitterDelay(5, policy, () => 0)).toBe(0);
    expect(fullJitterDelay(2, policy, () => 0.5)).toBe(200);
  });
});

describe('retry policy', () => {
  it('retries only calls that cannot do the work twice', () => {
    expect(isSafeToRetry('GET', undefined)).toBe(true);
    expect(isSafeToRetry('delete', undefined)).toBe(true);
    expect(isSafeToRetry('POST', undefined)).toBe(false);
    expect(isSafeToRetry('POST', 'key-1')).toBe(true);
    expect(isSafeToRetry('PATCH', undefined)).toBe(false);
  });

  it('treats overload and server errors as retryable, client errors as final', () => {
    for (const status of [429, 500, 502, 503, 504]) expect(isRetryableStatus(status)).toBe(true);
    for (const status of [200, 400, 401, 404, 409, 422, 501]) expect(isRetryableStatus(status)).toBe(false);
  });

  it('reads Retry-After seconds', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(['1'])).toBe(1000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('recognises infrastructure outages anywhere in the cause chain', () => {
    expect(
      isTransientInfrastructureError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
    ).toBe(true);
    expect(isTransientInfrastructureError({ code: '57P01' })).toBe(true);
    expect(isTransientInfrastructureError({ code: '40001' })).toBe(true);
    expect(isTransientInfrastructureError(new Error('wrapped', { cause: { code: '08006' } }))).toBe(true);
    expect(isTransientInfrastructureError({ code: 'P2010', meta: { code: '40P01' } })).toBe(true);
    expect(isTransientInfrastructureError({ kind: 'DatabaseNotReachable' })).toBe(true);
    expect(isTransientInfrastructureError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('does not excuse bugs or bad data as outages', () => {
    expect(isTransientInfrastructureError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientInfrastructureError({ code: '23505' })).toBe(false);
    expect(isTransientInfrastructureError({ code: 'P2002' })).toBe(false);
    expect(isTransientInfrastructureError(undefined)).toBe(false);
  });
});
