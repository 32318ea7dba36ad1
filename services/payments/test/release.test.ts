import { describe, expect, it } from 'vitest';
import type { Payment, PaymentStatus } from '../src/domain/payment.js';
import { afterRelease, compensationReply, decideRelease, releaseStep } from '../src/domain/release.js';

const orderId = '00000000-0000-4000-8000-0000000000a2';

const payment = (status: PaymentStatus, providerAuthorizationId: string | null = null): Payment => ({
  id: '00000000-0000-4000-8000-0000000000c2',
  orderId,
  status,
  userId: '00000000-0000-4000-8000-0000000000b2',
  amountCents: 100,
  currency: 'EUR',
  providerAuthorizationId,
});

describe('decideRelease', () => {
  it('voids what is authorized and refunds what was captured, whichever compensation was asked', () => {
    for (const compensation of ['void', 'refund'] as const) {
      expect(decideRelease(payment('AUTHORIZED', 'auth_1'), compensation)).toEqual({
        action: 'void',
        authorizationId: 'auth_1',
      });
      expect(decideRelease(payment('CAPTURED', 'auth_1'), compensation)).toEqual({
        action: 'refund',
        authorizationId: 'auth_1',
      });
    }
  });

  it('asks the provider when the authorization outcome is unknown', () => {
    expect(decideRelease(payment('UNKNOWN'), 'void')).toEqual({ action: 'lookup' });
    expect(decideRelease(payment('AUTHORIZING'), 'refund')).toEqual({ action: 'lookup' });
  });

  it('answers at once when nothing is held (declined, tombstone, already released)', () => {
    for (const status of ['DECLINED', 'VOIDED', 'REFUNDED'] as const) {
      expect(decideRelease(payment(status, status === 'REFUNDED' ? 'auth_1' : null), 'void')).toEqual({
        action: 'reply',
        reply: { type: 'payment.voided', data: { orderId } },
      });
      expect(decideRelease(payment(status), 'refund')).toEqual({
        action: 'reply',
        reply: { type: 'payment.refunded', data: { orderId } },
      });
    }
  });
});

describe('releaseStep', () => {
  it('maps each provider state to what makes it hold nothing', () => {
    expect(releaseStep('authorized')).toBe('void');
    expect(releaseStep('captured')).toBe('refund');
    expect(releaseStep('voided')).toBe('nothing');
    expect(releaseStep('refunded')).toBe('nothing');
  });
});

describe('afterRelease', () => {
  it('marks VOIDED when nothing was taken, or nothing existed at the provider', () => {
    expect(afterRelease(payment('UNKNOWN'), 'void', [])).toEqual({
      change: { status: 'VOIDED' },
      reply: compensationReply(orderId, 'void'),
    });
    expect(afterRelease(payment('UNKNOWN'), 'void', [{ id: 'auth_7', status: 'voided' }])).toEqual({
      change: { status: 'VOIDED', providerAuthorizationId: 'auth_7' },
      reply: { type: 'payment.voided', data: { orderId } },
    });
  });

  it('marks REFUNDED when money was given back, and answers the compensation that was asked', () => {
    expect(
      afterRelease(payment('AUTHORIZED', 'auth_1'), 'refund', [{ id: 'auth_1', status: 'refunded' }]),
    ).toEqual({
      change: { status: 'REFUNDED', providerAuthorizationId: 'auth_1' },
      reply: { type: 'payment.refunded', data: { orderId } },
    });
  });
});
