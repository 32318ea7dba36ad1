// THE ORDER SAGA, as one table. Every step's command and target, the reply that
// completes it and the replies that fail it, its compensation, its deadline and
// when it runs are declared here and nowhere else: the states (and the
// database's saga_step enum, checked by a test), the reply types the consumer
// handles, the deadline variables, the README's table and diagram are all
// derived from it (engine.ts runs it). Adding a step is adding a row.
//
// reserve stock → authorize payment → schedule shipment (orders with an
// address) → capture payment (the pivot) → confirmed. Before the pivot a failure
// compensates in reverse: cancel the shipment, release the payment, release the
// stock; a cancelled order never holds stock, money or a live shipment.
import { cancellationReason, type MessageType, type ShippingAddress } from '@shop/contracts';
import type { z } from 'zod';
import { createSaga, type Outgoing, type SagaTable } from './engine.js';

export type CancellationReason = z.infer<typeof cancellationReason>;
export { cancellationReason };

/** What the saga knows of an order. */
export interface OrderFacts {
  orderId: string;
  userId: string;
  items: { productId: string; quantity: number }[];
  totalCents: number;
  currency: string;
  paymentToken: string;
  /** Set for orders placed through /api/v2; v1 orders have none and skip shipping. */
  shippingAddress: ShippingAddress | null;
}

/** An order as placed: its facts, each line with the price it was placed at. */
export type PricedOrder = Omit<OrderFacts, 'items'> & {
  items: { productId: string; quantity: number; unitPriceCents: number }[];
};

/** The event that an order exists, sent with its first command in the transaction that places it. */
export function orderCreated(order: PricedOrder): Outgoing {
  return {
    type: 'order.created',
    data: {
      orderId: order.orderId,
      userId: order.userId,
      items: order.items.map(({ productId, quantity, unitPriceCents }) => ({
        productId,
        quantity,
        unitPriceCents,
      })),
      totalCents: order.totalCents,
      currency: order.currency,
    },
  };
}

/** The order's shipment, as the shipping service reported it (the order's `shipment` column). */
export interface RecordedShipment {
  status: 'SCHEDULED' | 'CANCELLED';
  carrier: string;
  trackingId: string;
}

export const orderSagaTable = {
  steps: [
    {
      name: 'RESERVING_STOCK',
      target: 'inventory',
      command: ({ orderId, items }) => ({ type: 'stock.reserve', data: { orderId, items } }),
      success: 'stock.reserved',
      // All or nothing: a refused reservation holds nothing to release.
      failures: { 'stock.reservation-failed': () => ({ reason: 'OUT_OF_STOCK', outcome: 'failed' }) },
      compensation: {
        name: 'RELEASING_STOCK',
        command: ({ orderId }) => ({ type: 'stock.release', data: { orderId } }),
        replies: ['stock.released'],
      },
      deadline: 'SAGA_RESERVE_TIMEOUT',
    },
    {
      name: 'AUTHORIZING_PAYMENT',
      target: 'payments',
      command: ({ orderId, userId, totalCents, currency, paymentToken }) => ({
        type: 'payment.authorize',
        data: { orderId, userId, amountCents: totalCents, currency, token: paymentToken },
      }),
      success: 'payment.authorized',
      failures: {
        // Declined: nothing is held. Unavailable: the provider may have authorized without us hearing.
        'payment.authorization-failed': (data) =>
          data.reason === 'DECLINED'
            ? { reason: 'PAYMENT_DECLINED', outcome: 'failed' }
            : { reason: 'PAYMENT_UNAVAILABLE', outcome: 'unknown' },
      },
      compensation: {
        // Payments answers a void by releasing whatever the order holds: an authorization is voided,
        // a capture refunded. So this also undoes CAPTURING_PAYMENT.
        name: 'VOIDING_PAYMENT',
        command: ({ orderId }) => ({ type: 'payment.void', data: { orderId } }),
        replies: ['payment.voided', 'payment.refunded'],
      },
      deadline: 'SAGA_AUTHORIZE_TIMEOUT',
    },
    {
      name: 'SCHEDULING_SHIPMENT',
      target: 'shipping',
      command: ({ orderId, shippingAddress }) => ({
        type: 'shipment.schedule',
        data: { orderId, address: shippingAddress! },
      }),
      success: 'shipment.scheduled',
      failures: {
        'shipment.scheduling-failed': () => ({ reason: 'SHIPPING_UNAVAILABLE', outcome: 'failed' }),
      },
      compensation: {
        name: 'CANCELLING_SHIPMENT',
        command: ({ orderId }) => ({ type: 'shipment.cancel', data: { orderId } }),
        replies: ['shipment.cancelled'],
        records: (_data, recorded) =>
          recorded.shipment ? { shipment: { ...(recorded.shipment as object), status: 'CANCELLED' } } : {},
      },
      deadline: 'SAGA_SCHEDULE_TIMEOUT',
      runsWhen: {
        condition: 'the order has a shipping address (placed through /api/v2)',
        test: (order) => order.shippingAddress !== null,
      },
      records: (data) => ({
        shipment: { status: 'SCHEDULED', carrier: data.carrier, trackingId: data.trackingId },
      }),
    },
    {
      name: 'CAPTURING_PAYMENT',
      target: 'payments',
      command: ({ orderId }) => ({ type: 'payment.capture', data: { orderId } }),
      success: 'payment.captured',
      failures: {
        // Either way the capture may have happened; releasing the payment settles it.
        'payment.capture-failed': (data) => ({
          reason: data.reason === 'DECLINED' ? 'PAYMENT_DECLINED' : 'PAYMENT_UNAVAILABLE',
          outcome: 'unknown',
        }),
      },
      compensation: null,
      uncompensated: "VOIDING_PAYMENT (the authorization's compensation) refunds a capture too",
      deadline: 'SAGA_CAPTURE_TIMEOUT',
      pivot: true,
    },
  ],
  confirm: (order, recorded) => [
    { type: 'stock.commit', data: { orderId: order.orderId } },
    {
      type: 'order.confirmed',
      data: {
        orderId: order.orderId,
        userId: order.userId,
        totalCents: order.totalCents,
        currency: order.currency,
        shipment: recorded.shipment
          ? {
              carrier: (recorded.shipment as RecordedShipment).carrier,
              trackingId: (recorded.shipment as RecordedShipment).trackingId,
            }
          : null,
      },
    },
  ],
  cancel: (order, reason) => [
    { type: 'order.cancelled', data: { orderId: order.orderId, userId: order.userId, reason } },
  ],
  timeoutReason: 'TIMEOUT',
} as const satisfies SagaTable<OrderFacts, CancellationReason, string>;

export const orderSaga = createSaga<OrderFacts, CancellationReason, DeadlineVariable>(orderSagaTable);

/** The configuration variable of each forward step's deadline. */
export type DeadlineVariable = (typeof orderSagaTable.steps)[number]['deadline'];
export const deadlineVariables = orderSagaTable.steps.map((step) => step.deadline) as DeadlineVariable[];

/** Every state an order's saga can be in: the database's saga_step enum (a test checks they match). */
export const sagaStates: readonly string[] = orderSaga.states;
/** The replies the saga acts on: what the orders consumer handles. */
export const replyTypes: readonly MessageType[] = orderSaga.replyTypes;
