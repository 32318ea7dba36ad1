// Deciding the saga's compensations. `payment.void` and `payment.refund` both
// mean "make sure this order holds no money, whatever its state": the saga sends
// them when it gave up on an order, sometimes without knowing how far the
// payment got (a timeout, an unavailable provider), so each is answered from
// what is actually held, not from which of the two was asked. No I/O here.
import type { Payment, PaymentStatus, Reply, Settlement } from './payment.js';
import type { ProviderAuthorization, ProviderAuthorizationStatus } from './provider-outcome.js';

export type Compensation = 'void' | 'refund';

export type ReleaseDecision =
  | { action: 'reply'; reply: Reply }
  /** Release the authorization on record: void what is only authorized, refund what was captured. */
  | { action: 'void' | 'refund'; authorizationId: string }
  /** Nothing reliable on record: ask the provider what it holds for the order. */
  | { action: 'lookup' };

/**
 * The saga is told the compensation it asked for is done; it accepts either
 * reply in either step, so the reply follows the command, not the money moved.
 */
export function compensationReply(orderId: string, compensation: Compensation): Reply {
  return compensation === 'void'
    ? { type: 'payment.voided', data: { orderId } }
    : { type: 'payment.refunded', data: { orderId } };
}

/** `payment` was locked, or created as a VOIDED tombstone when the order had none. */
export function decideRelease(payment: Payment, compensation: Compensation): ReleaseDecision {
  switch (payment.status) {
    case 'DECLINED':
    case 'VOIDED':
    case 'REFUNDED':
      return { action: 'reply', reply: compensationReply(payment.orderId, compensation) };
    case 'AUTHORIZED':
      return { action: 'void', authorizationId: payment.providerAuthorizationId! };
    case 'CAPTURED':
      return { action: 'refund', authorizationId: payment.providerAuthorizationId! };
    case 'AUTHORIZING':
    case 'UNKNOWN':
      return { action: 'lookup' };
  }
}

/** What to do about one authorization the provider holds for the order. */
export function releaseStep(status: ProviderAuthorizationStatus): 'void' | 'refund' | 'nothing' {
  switch (status) {
    case 'authorized':
      return 'void';
    case 'captured':
      return 'refund';
    case 'voided':
    case 'refunded':
      return 'nothing';
  }
}

/**
 * The payment once every authorization the provider had for the order holds no
 * money (`released` lists them in their final state; empty when there was none).
 */
export function afterRelease(
  payment: Payment,
  compensation: Compensation,
  released: ProviderAuthorization[],
): Settlement {
  const refunded = released.find((authorization) => authorization.status === 'refunded');
  const last = refunded ?? released.at(-1);
  const status: PaymentStatus = refunded ? 'REFUNDED' : 'VOIDED';
  return {
    change: { status, ...(last ? { providerAuthorizationId: last.id } : {}) },
    reply: compensationReply(payment.orderId, compensation),
  };
}
