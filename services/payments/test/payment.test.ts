import { describe, expect, it } from 'vitest';
import {
  type AuthorizeCommand,
  afterAuthorization,
  afterCapture,
  decideAuthorize,
  decideCapture,
  type Payment,
  type PaymentStatus,
} from '../src/domain/payment.js';
import { idempotencyKey } from '../src/domain/provider-outcome.js';

const orderId = '00000000-0000-4000-8000-0000000000a1';
const userId = '00000000-0000-4000-8000-0000000000b1';
const paymentId = '00000000-0000-4000-8000-0000000000c1';
const command: AuthorizeCommand = { orderId, userId, amountCents: 2500, currency: 'EUR', token: 'tok_visa' };

const payment = (status: PaymentStatus, extra: Partial<Payment> = {}): Payment => ({
  id: paymentId,
  orderId,
  status,
  userId,
  amountCents: 2500,
  currency: 'EUR',
  providerAuthorizationId: ['AUTHORIZED', 'CAPTURED', 'REFUNDED'].includes(status) ? 'auth_1' : null,
  ...extra,
});
const tombstone = () => payment('VOIDED', { userId: null, amountCents: null, currency: null });

const authorized = { type: 'payment.authorized', data: { orderId, paymentId } };
const authorizationFailed = (reason: string) => ({
  type: 'payment.authorization-failed',
  data: { orderId, reason },
});

describe('decideAuthorize', () => {
  it('calls the provider for a new payment, and again with the same key when the outcome is unknown', () => {
    expect(decideAuthorize(payment('AUTHORIZING'), command)).toEqual({ action: 'authorize' });
    expect(decideAuthorize(payment('UNKNOWN'), command)).toEqual({ action: 'authorize' });
  });

  it('answers a repeated authorize from the record, without the provider', () => {
    expect(decideAuthorize(payment('AUTHORIZED'), command)).toEqual({ action: 'reply', reply: authorized });
    expect(decideAuthorize(payment('CAPTURED'), command)).toEqual({ action: 'reply', reply: authorized });
    expect(decideAuthorize(payment('DECLINED'), command)).toEqual({
      action: 'reply',
      reply: authorizationFailed('DECLINED'),
    });
  });

  it('refuses to authorize an order that was already compensated (tombstone or released payment)', () => {
    for (const compensated of [tombstone(), payment('VOIDED'), payment('REFUNDED')]) {
      expect(decideAuthorize(compensated, command)).toEqual({
        action: 'reply',
        reply: authorizationFailed('DECLINED'),
      });
    }
  });

  it('rejects a command whose amount, currency or user contradicts the payment on record', () => {
    for (const change of [{ amountCents: 2600 }, { currency: 'USD' }, { userId: paymentId }]) {
      const decision = decideAuthorize(payment('AUTHORIZED'), { ...command, ...change });
      expect(decision).toMatchObject({ action: 'reject', why: expect.stringContaining(orderId) });
    }
  });
});

describe('afterAuthorization', () => {
  it('records the provider authorization when approved', () => {
    expect(
      afterAuthorization(payment('AUTHORIZING'), {
        kind: 'approved',
        authorization: { id: 'auth_9', status: 'authorized' },
      }),
    ).toEqual({
      change: { status: 'AUTHORIZED', providerAuthorizationId: 'auth_9', failureReason: null },
      reply: authorized,
    });
  });

  it('records a decline as DECLINED', () => {
    expect(afterAuthorization(payment('AUTHORIZING'), { kind: 'declined', code: 'card_declined' })).toEqual({
      change: { status: 'DECLINED', failureReason: 'DECLINED' },
      reply: authorizationFailed('DECLINED'),
    });
  });

  it('records no answer as UNKNOWN and tells the saga UNAVAILABLE', () => {
    expect(afterAuthorization(payment('AUTHORIZING'), { kind: 'unavailable', reason: 'timeout' })).toEqual({
      change: { status: 'UNKNOWN', failureReason: 'UNAVAILABLE' },
      reply: authorizationFailed('UNAVAILABLE'),
    });
  });
});

describe('decideCapture', () => {
  it('captures an authorized payment through its provider authorization', () => {
    const authorizedPayment = payment('AUTHORIZED');
    expect(decideCapture(authorizedPayment, orderId)).toEqual({
      action: 'capture',
      payment: authorizedPayment,
      authorizationId: 'auth_1',
    });
  });

  it('answers a repeated capture without the provider', () => {
    expect(decideCapture(payment('CAPTURED'), orderId)).toEqual({
      action: 'reply',
      reply: { type: 'payment.captured', data: { orderId, paymentId } },
    });
  });

  it('refuses to capture what holds no money, and calls an unknown outcome unavailable', () => {
    const failed = (reason: string) => ({
      action: 'reply',
      reply: { type: 'payment.capture-failed', data: { orderId, reason } },
    });
    expect(decideCapture(undefined, orderId)).toEqual(failed('DECLINED'));
    expect(decideCapture(payment('DECLINED'), orderId)).toEqual(failed('DECLINED'));
    expect(decideCapture(tombstone(), orderId)).toEqual(failed('DECLINED'));
    expect(decideCapture(payment('REFUNDED'), orderId)).toEqual(failed('DECLINED'));
    expect(decideCapture(payment('UNKNOWN'), orderId)).toEqual(failed('UNAVAILABLE'));
  });
});

describe('afterCapture', () => {
  const done = { kind: 'done', authorization: { id: 'auth_1', status: 'captured' } } as const;

  it('marks the payment captured', () => {
    expect(afterCapture(payment('AUTHORIZED'), done)).toEqual({
      change: { status: 'CAPTURED', failureReason: null },
      reply: { type: 'payment.captured', data: { orderId, paymentId } },
    });
  });

  it('keeps the status when the provider refuses (409) or cannot be reached, and says which', () => {
    expect(afterCapture(payment('AUTHORIZED'), { kind: 'refused', code: 'invalid_state' })).toEqual({
      change: { failureReason: 'CAPTURE_DECLINED' },
      reply: { type: 'payment.capture-failed', data: { orderId, reason: 'DECLINED' } },
    });
    expect(afterCapture(payment('AUTHORIZED'), { kind: 'unavailable', reason: 'timeout' })).toEqual({
      change: { failureReason: 'CAPTURE_UNAVAILABLE' },
      reply: { type: 'payment.capture-failed', data: { orderId, reason: 'UNAVAILABLE' } },
    });
  });
});

describe('idempotencyKey', () => {
  it('is derived from the order and the operation only, so every repetition reuses it', () => {
    expect(idempotencyKey(orderId, 'capture')).toBe(`${orderId}:capture`);
    expect(idempotencyKey(orderId, 'authorize')).not.toBe(idempotencyKey(orderId, 'void'));
  });
});
