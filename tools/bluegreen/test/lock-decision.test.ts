import { describe, expect, it } from 'vitest';
import { decideAcquire, isHeld, leaseExpiry, renewIntervalMs } from '../src/lock-decision.js';
import { lease } from './support/fixtures.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

describe('decideAcquire', () => {
  it('creates the Lease when there is none', () => {
    expect(decideAcquire(undefined, 'me', t0)).toEqual({ action: 'create' });
  });

  it('takes a released Lease', () => {
    expect(decideAcquire(lease({ holder: undefined }), 'me', t0)).toMatchObject({
      action: 'take',
      previousHolder: undefined,
    });
  });

  it('refuses while another holder renews in time, naming it', () => {
    expect(decideAcquire(lease({ renewTime: t0 }), 'me', at(29))).toMatchObject({
      action: 'refuse',
      holder: 'alice@ci (pid 1)',
      expiresAt: at(30),
      operation: 'deploy users x',
    });
  });

  it('takes over a Lease whose holder stopped renewing (a killed process)', () => {
    expect(decideAcquire(lease({ renewTime: t0 }), 'me', at(31))).toEqual({
      action: 'take',
      previousHolder: 'alice@ci (pid 1)',
      expiredAt: at(30),
    });
  });

  it('treats a Lease without renewTime as expired', () => {
    expect(decideAcquire(lease({ renewTime: undefined }), 'me', t0)).toMatchObject({ action: 'take' });
  });

  it('lets the holder itself take it again', () => {
    expect(decideAcquire(lease({ holder: 'me' }), 'me', t0)).toMatchObject({ action: 'take' });
  });
});

describe('lease timing', () => {
  it('expires renewTime + duration', () => {
    expect(leaseExpiry(lease({ renewTime: t0, durationSeconds: 10 }))).toEqual(at(10));
    expect(isHeld(lease({ renewTime: t0, durationSeconds: 10 }), at(9))).toBe(true);
    expect(isHeld(lease({ renewTime: t0, durationSeconds: 10 }), at(10))).toBe(false);
    expect(isHeld(undefined, t0)).toBe(false);
  });

  it('renews three times per duration', () => {
    expect(renewIntervalMs(30)).toBe(10_000);
    expect(renewIntervalMs(0)).toBe(200);
  });
});
