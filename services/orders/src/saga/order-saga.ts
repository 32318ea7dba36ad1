// The order saga as a pure state machine: given where an order stands and what
// just happened (a participant's reply, a deadline passing, a cancellation), it
// decides the next step, the commands to send, and the events to publish. The
// orchestrator around it persists the result and the messages in one
// transaction; nothing here does I/O, so every path is tested directly.
//
// Forward: reserve stock → authorize payment → capture payment → confirmed.
// Capture is the pivot: once the money is taken the order is confirmed and the
// stock commit is sent (delivery is guaranteed by the outbox); before it, any
// failure compensates in reverse (refund or void the payment, release the
// stock) and the order is cancelled only when the compensations are done, so a
// cancelled order never holds money or stock.
import type { MessageData, MessageType } from '@shop/contracts';
import { z } from 'zod';

export const sagaSteps = [
  'RESERVING_STOCK',
  'AUTHORIZING_PAYMENT',
  'CAPTURING_PAYMENT',
  'VOIDING_PAYMENT',
  'REFUNDING_PAYMENT',
  'RELEASING_STOCK',
  'DONE',
] as const;
export type SagaStep = (typeof sagaSteps)[number];

export const cancellationReason = z.enum([
  'OUT_OF_STOCK',
  'PAYMENT_DECLINED',
  'PAYMENT_UNAVAILABLE',
  'TIMEOUT',
  'USER_DELETED',
]);
export type CancellationReason = z.infer<typeof cancellationReason>;
export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';

export interface SagaState {
  step: SagaStep;
  status: OrderStatus;
  cancellationReason: CancellationReason | null;
}

export interface OrderFacts {
  orderId: string;
  userId: string;
  items: { productId: string; quantity: number }[];
  totalCents: number;
  currency: string;
  paymentToken: string;
}

export type SagaInput =
  | { kind: 'reply'; type: ReplyType; data: { reason?: string } }
  | { kind: 'deadline' }
  | { kind: 'cancel'; reason: CancellationReason };

export type ReplyType = Extract<
  MessageType,
  | 'stock.reserved'
  | 'stock.reservation-failed'
  | 'stock.released'
  | 'payment.authorized'
  | 'payment.authorization-failed'
  | 'payment.captured'
  | 'payment.capture-failed'
  | 'payment.voided'
  | 'payment.refunded'
>;

export type Outgoing = { [T in MessageType]: { type: T; data: MessageData<T> } }[MessageType];

export interface Decision {
  state: SagaState;
  /** Commands and events to send, in this order. */
  messages: Outgoing[];
  /** Whether the step changed or its command was sent again, so its deadline restarts. */
  restartDeadline: boolean;
}

export const initialState: SagaState = {
  step: 'RESERVING_STOCK',
  status: 'PENDING',
  cancellationReason: null,
};

/** The first command of a new order. */
export function start(order: OrderFacts): Outgoing[] {
  return [commandFor('RESERVING_STOCK', order)];
}

const unchanged = (state: SagaState): Decision => ({ state, messages: [], restartDeadline: false });

export function decide(state: SagaState, input: SagaInput, order: OrderFacts): Decision {
  if (state.step === 'DONE') return unchanged(state);

  if (input.kind === 'deadline') {
    if (isCompensating(state.step)) return resend(state, order);
    return compensate(state, reasonForTimeout(state.step), order, { outcomeUnknown: true });
  }
  if (input.kind === 'cancel') {
    if (isCompensating(state.step)) return unchanged(state);
    return compensate(state, input.reason, order, { outcomeUnknown: true });
  }

  const expected = expectedReplies[state.step];
  if (!expected.includes(input.type)) return unchanged(state); // a late or repeated reply

  switch (input.type) {
    case 'stock.reserved':
      return advance(state, 'AUTHORIZING_PAYMENT', order);
    case 'stock.reservation-failed':
      // Nothing was reserved (all or nothing), so there is nothing to undo.
      return finish({ ...state, cancellationReason: 'OUT_OF_STOCK' }, order);
    case 'payment.authorized':
      return advance(state, 'CAPTURING_PAYMENT', order);
    case 'payment.authorization-failed':
      return input.data.reason === 'DECLINED'
        ? compensate(state, 'PAYMENT_DECLINED', order, { outcomeUnknown: false })
        : compensate(state, 'PAYMENT_UNAVAILABLE', order, { outcomeUnknown: true });
    case 'payment.captured':
      return {
        state: { step: 'DONE', status: 'CONFIRMED', cancellationReason: null },
        messages: [
          { type: 'stock.commit', data: { orderId: order.orderId } },
          {
            type: 'order.confirmed',
            data: {
              orderId: order.orderId,
              userId: order.userId,
              totalCents: order.totalCents,
              currency: order.currency,
            },
          },
        ],
        restartDeadline: false,
      };
    case 'payment.capture-failed':
      return compensate(
        state,
        input.data.reason === 'DECLINED' ? 'PAYMENT_DECLINED' : 'PAYMENT_UNAVAILABLE',
        order,
        {
          outcomeUnknown: true,
        },
      );
    case 'payment.voided':
    case 'payment.refunded':
      return advance(state, 'RELEASING_STOCK', order);
    case 'stock.released':
      return finish(state, order);
  }
}

const expectedReplies: Record<SagaStep, readonly ReplyType[]> = {
  RESERVING_STOCK: ['stock.reserved', 'stock.reservation-failed'],
  AUTHORIZING_PAYMENT: ['payment.authorized', 'payment.authorization-failed'],
  CAPTURING_PAYMENT: ['payment.captured', 'payment.capture-failed'],
  VOIDING_PAYMENT: ['payment.voided', 'payment.refunded'],
  REFUNDING_PAYMENT: ['payment.refunded', 'payment.voided'],
  RELEASING_STOCK: ['stock.released'],
  DONE: [],
};

function isCompensating(step: SagaStep): boolean {
  return step === 'VOIDING_PAYMENT' || step === 'REFUNDING_PAYMENT' || step === 'RELEASING_STOCK';
}

function reasonForTimeout(_step: SagaStep): CancellationReason {
  return 'TIMEOUT';
}

/**
 * Starts undoing, in reverse, what the step in progress and those before it may
 * have done. `outcomeUnknown` means the step's own effect may have happened (a
 * timeout, an unavailable provider), so it is undone too.
 */
function compensate(
  state: SagaState,
  reason: CancellationReason,
  order: OrderFacts,
  { outcomeUnknown }: { outcomeUnknown: boolean },
): Decision {
  const withReason = { ...state, cancellationReason: reason };
  switch (state.step) {
    case 'RESERVING_STOCK':
      return advance(withReason, 'RELEASING_STOCK', order);
    case 'AUTHORIZING_PAYMENT':
      return advance(withReason, outcomeUnknown ? 'VOIDING_PAYMENT' : 'RELEASING_STOCK', order);
    case 'CAPTURING_PAYMENT':
      return advance(withReason, outcomeUnknown ? 'REFUNDING_PAYMENT' : 'VOIDING_PAYMENT', order);
    default:
      return unchanged(state);
  }
}

function advance(state: SagaState, step: SagaStep, order: OrderFacts): Decision {
  return { state: { ...state, step }, messages: [commandFor(step, order)], restartDeadline: true };
}

function resend(state: SagaState, order: OrderFacts): Decision {
  return { state, messages: [commandFor(state.step, order)], restartDeadline: true };
}

function finish(state: SagaState, order: OrderFacts): Decision {
  const reason = state.cancellationReason ?? 'TIMEOUT';
  return {
    state: { step: 'DONE', status: 'CANCELLED', cancellationReason: reason },
    messages: [{ type: 'order.cancelled', data: { orderId: order.orderId, userId: order.userId, reason } }],
    restartDeadline: false,
  };
}

function commandFor(step: SagaStep, order: OrderFacts): Outgoing {
  const { orderId } = order;
  switch (step) {
    case 'RESERVING_STOCK':
      return { type: 'stock.reserve', data: { orderId, items: order.items } };
    case 'AUTHORIZING_PAYMENT':
      return {
        type: 'payment.authorize',
        data: {
          orderId,
          userId: order.userId,
          amountCents: order.totalCents,
          currency: order.currency,
          token: order.paymentToken,
        },
      };
    case 'CAPTURING_PAYMENT':
      return { type: 'payment.capture', data: { orderId } };
    case 'VOIDING_PAYMENT':
      return { type: 'payment.void', data: { orderId } };
    case 'REFUNDING_PAYMENT':
      return { type: 'payment.refund', data: { orderId } };
    case 'RELEASING_STOCK':
      return { type: 'stock.release', data: { orderId } };
    case 'DONE':
      throw new Error('a finished saga sends no command');
  }
}
