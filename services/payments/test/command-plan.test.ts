import { describe, expect, it } from 'vitest';
import {
  type PaymentCommand,
  PaymentCommandRejected,
  type PaymentRecord,
  planCommands,
} from '../src/domain/command-plan.js';

const orderA = '0b5f7c1e-2f1e-4c8e-9a57-3d1f0e6c2a11';
const orderB = '1c6a8d2f-3a2b-4d9f-8b68-4e2a1f7d3b22';
const user = '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d';

let n = 0;
const ids = { payment: () => `pay-${++n}`, operation: () => `op-${++n}` };

const authorize = (orderId: string, amountCents = 4999): PaymentCommand => ({
  type: 'payment.authorize',
  data: { orderId, userId: user, amountCents, currency: 'EUR', token: 'tok_visa' },
});
const capture = (orderId: string): PaymentCommand => ({ type: 'payment.capture', data: { orderId } });
const voidIt = (orderId: string): PaymentCommand => ({ type: 'payment.void', data: { orderId } });
const refund = (orderId: string): PaymentCommand => ({ type: 'payment.refund', data: { orderId } });

const payment = (
  orderId: string,
  status: PaymentRecord['status'],
  extra: Partial<PaymentRecord> = {},
): PaymentRecord => ({
  id: `pay-of-${orderId}`,
  orderId,
  status,
  userId: user,
  amountCents: 4999,
  currency: 'EUR',
  providerAuthorizationId: status === 'AUTHORIZED' || status === 'CAPTURED' ? 'auth_1' : null,
  pending: null,
  ...extra,
});
const records = (...list: PaymentRecord[]) => new Map(list.map((p) => [p.orderId, p]));

describe('planCommands', () => {
  it('records a new authorization as the pending operation of a new AUTHORIZING payment, and asks nothing yet', () => {
    const plan = planCommands([authorize(orderA)], records(), ids);
    const created = plan.created.get(orderA)!;
    expect(created).toMatchObject({
      status: 'AUTHORIZING',
      userId: user,
      amountCents: 4999,
      currency: 'EUR',
    });
    expect(created.pending).toEqual(plan.operations[0]);
    expect(plan.operations[0]?.call).toEqual({ kind: 'authorize', command: authorize(orderA).data });
    expect(plan.replies).toEqual([undefined]);
  });

  it('ignores further commands for a payment while its operation is pending', () => {
    const plan = planCommands([authorize(orderA), authorize(orderA), voidIt(orderA)], records(), ids);
    expect(plan.operations.filter(Boolean)).toHaveLength(1);
    expect(plan.replies).toEqual([undefined, undefined, undefined]);
    const pending = payment(orderB, 'AUTHORIZING', {
      pending: { id: 'op-x', call: { kind: 'capture', authorizationId: 'a' } },
    });
    const later = planCommands([refund(orderB), capture(orderB)], records(pending), ids);
    expect(later.operations).toEqual([undefined, undefined]);
    expect(later.changed.size).toBe(0);
  });

  it('answers repeats from the record without the provider', () => {
    const plan = planCommands(
      [authorize(orderA), capture(orderB)],
      records(payment(orderA, 'AUTHORIZED'), payment(orderB, 'CAPTURED')),
      ids,
    );
    expect(plan.replies.map((r) => r?.type)).toEqual(['payment.authorized', 'payment.captured']);
    expect(plan.operations).toEqual([undefined, undefined]);
    expect(plan.changed.size + plan.created.size).toBe(0);
  });

  it('captures an authorized payment through its authorization', () => {
    const plan = planCommands([capture(orderA)], records(payment(orderA, 'AUTHORIZED')), ids);
    expect(plan.operations[0]?.call).toEqual({ kind: 'capture', authorizationId: 'auth_1' });
    expect(plan.changed.get(orderA)?.pending).toEqual(plan.operations[0]);
  });

  it('refuses a capture of nothing, and of an authorization whose outcome is unknown', () => {
    const plan = planCommands([capture(orderA), capture(orderB)], records(payment(orderB, 'UNKNOWN')), ids);
    expect(plan.replies).toEqual([
      { type: 'payment.capture-failed', data: { orderId: orderA, reason: 'DECLINED' } },
      { type: 'payment.capture-failed', data: { orderId: orderB, reason: 'UNAVAILABLE' } },
    ]);
  });

  it('leaves a tombstone when a compensation comes first, and refuses the late authorize without the provider', () => {
    const plan = planCommands([voidIt(orderA), authorize(orderA)], records(), ids);
    expect(plan.created.get(orderA)).toMatchObject({ status: 'VOIDED', userId: null, pending: null });
    expect(plan.replies).toEqual([
      { type: 'payment.voided', data: { orderId: orderA } },
      { type: 'payment.authorization-failed', data: { orderId: orderA, reason: 'DECLINED' } },
    ]);
    expect(plan.operations).toEqual([undefined, undefined]);
  });

  it('releases what is held: void of an authorization, refund of a capture, a lookup when unknown', () => {
    const plan = planCommands(
      [voidIt(orderA), refund(orderB)],
      records(payment(orderA, 'CAPTURED'), payment(orderB, 'UNKNOWN')),
      ids,
    );
    expect(plan.operations.map((o) => o?.call)).toEqual([
      { kind: 'release', compensation: 'void', decision: { action: 'refund', authorizationId: 'auth_1' } },
      { kind: 'release', compensation: 'refund', decision: { action: 'lookup' } },
    ]);
  });

  it('rejects an authorize that contradicts the payment on record', () => {
    expect(() => planCommands([authorize(orderA, 1)], records(payment(orderA, 'AUTHORIZED')), ids)).toThrow(
      PaymentCommandRejected,
    );
  });
});
