// Deciding the saga's forward payment commands (authorize, capture) for one
// order: given the payment as it stands (its row locked by the caller) and the
// command, what to do; and given what the provider answered, what the payment
// becomes and what the saga is told. No I/O here.
import type { MessageData, topics } from '@shop/contracts';
import type { PaymentFailure, PaymentStatus } from '../generated/prisma/enums.js';
import type { AuthorizationOutcome, OperationOutcome } from './provider-outcome.js';

export type { PaymentFailure, PaymentStatus };

export interface Payment {
  id: string;
  orderId: string;
  status: PaymentStatus;
  userId: string | null;
  amountCents: number | null;
  currency: string | null;
  providerAuthorizationId: string | null;
}

type ReplyType = (typeof topics)['payments.replies'][number];
/** A message to the saga on payments.replies. */
export type Reply = { [T in ReplyType]: { type: T; data: MessageData<T> } }[ReplyType];

export interface PaymentChange {
  status?: PaymentStatus;
  providerAuthorizationId?: string;
  failureReason?: PaymentFailure | null;
}

/** What a provider answer does to the payment, and what the saga hears about it. */
export interface Settlement {
  change: PaymentChange;
  reply: Reply;
}

export type AuthorizeCommand = MessageData<'payment.authorize'>;

export type AuthorizeDecision =
  | { action: 'reply'; reply: Reply }
  | { action: 'authorize' }
  /** The command contradicts the payment on record: a bug upstream, not something to charge for. */
  | { action: 'reject'; why: string };

const authorized = (payment: Payment): Reply => ({
  type: 'payment.authorized',
  data: { orderId: payment.orderId, paymentId: payment.id },
});
const authorizationFailed = (orderId: string, reason: 'DECLINED' | 'UNAVAILABLE'): Reply => ({
  type: 'payment.authorization-failed',
  data: { orderId, reason },
});
const captureFailed = (orderId: string, reason: 'DECLINED' | 'UNAVAILABLE'): Reply => ({
  type: 'payment.capture-failed',
  data: { orderId, reason },
});

/** `payment` was locked, or created as AUTHORIZING from this very command when the order had none. */
export function decideAuthorize(payment: Payment, command: AuthorizeCommand): AuthorizeDecision {
  const conflict = conflictingTerms(payment, command);
  if (conflict) return { action: 'reject', why: conflict };
  switch (payment.status) {
    case 'AUTHORIZING':
    // Asking again with the same Idempotency-Key is how an unknown outcome is
    // resolved: the provider replays its answer if it has one, else decides now.
    case 'UNKNOWN':
      return { action: 'authorize' };
    case 'AUTHORIZED':
    case 'CAPTURED':
      return { action: 'reply', reply: authorized(payment) };
    case 'DECLINED':
      return { action: 'reply', reply: authorizationFailed(payment.orderId, 'DECLINED') };
    case 'VOIDED':
    case 'REFUNDED':
      // The saga compensated this order already (perhaps before this command
      // arrived): authorizing now would hold money that nobody will release.
      // DECLINED because the outcome is certain: nothing is held.
      return { action: 'reply', reply: authorizationFailed(payment.orderId, 'DECLINED') };
  }
}

function conflictingTerms(payment: Payment, command: AuthorizeCommand): string | undefined {
  if (payment.userId === null) return undefined; // a tombstone has no terms to contradict
  const recorded = `${payment.amountCents} ${payment.currency} for user ${payment.userId}`;
  const asked = `${command.amountCents} ${command.currency} for user ${command.userId}`;
  return recorded === asked
    ? undefined
    : `order ${payment.orderId}: authorize asks for ${asked}, but the payment is for ${recorded}`;
}

export function afterAuthorization(payment: Payment, outcome: AuthorizationOutcome): Settlement {
  switch (outcome.kind) {
    case 'approved':
      return {
        change: {
          status: 'AUTHORIZED',
          providerAuthorizationId: outcome.authorization.id,
          failureReason: null,
        },
        reply: authorized(payment),
      };
    case 'declined':
      return {
        change: { status: 'DECLINED', failureReason: 'DECLINED' },
        reply: authorizationFailed(payment.orderId, 'DECLINED'),
      };
    case 'unavailable':
      // The provider may have authorized without us hearing of it: UNKNOWN makes
      // a later void ask the provider what it holds instead of assuming nothing.
      return {
        change: { status: 'UNKNOWN', failureReason: 'UNAVAILABLE' },
        reply: authorizationFailed(payment.orderId, 'UNAVAILABLE'),
      };
  }
}

export type CaptureDecision =
  | { action: 'reply'; reply: Reply }
  | { action: 'capture'; payment: Payment; authorizationId: string };

export function decideCapture(payment: Payment | undefined, orderId: string): CaptureDecision {
  if (!payment) return { action: 'reply', reply: captureFailed(orderId, 'DECLINED') };
  switch (payment.status) {
    case 'AUTHORIZED':
      // A CHECK constraint guarantees an AUTHORIZED payment names its authorization.
      return { action: 'capture', payment, authorizationId: payment.providerAuthorizationId! };
    case 'CAPTURED':
      return { action: 'reply', reply: captured(payment) };
    case 'AUTHORIZING':
    case 'UNKNOWN':
      // Never told the saga "authorized", so this capture is out of order; whether
      // money is held is unknown, which the saga's refund will settle.
      return { action: 'reply', reply: captureFailed(orderId, 'UNAVAILABLE') };
    case 'DECLINED':
    case 'VOIDED':
    case 'REFUNDED':
      return { action: 'reply', reply: captureFailed(orderId, 'DECLINED') };
  }
}

const captured = (payment: Payment): Reply => ({
  type: 'payment.captured',
  data: { orderId: payment.orderId, paymentId: payment.id },
});

export function afterCapture(payment: Payment, outcome: OperationOutcome): Settlement {
  switch (outcome.kind) {
    case 'done':
      return { change: { status: 'CAPTURED', failureReason: null }, reply: captured(payment) };
    case 'refused':
      // The provider's authorization is not capturable (voided, expired, unknown).
      // The status stays as we last knew it; the saga's refund asks the provider.
      return {
        change: { failureReason: 'CAPTURE_DECLINED' },
        reply: captureFailed(payment.orderId, 'DECLINED'),
      };
    case 'unavailable':
      // The capture may have happened. The saga answers with a refund, which
      // finds out from the provider whether there is money to give back.
      return {
        change: { failureReason: 'CAPTURE_UNAVAILABLE' },
        reply: captureFailed(payment.orderId, 'UNAVAILABLE'),
      };
  }
}
