// Every event and command of the system, each as a zod schema of its `data`.
// Commands ask one service to do something (the order saga's steps and
// compensations); replies and events say what happened.
import { z } from 'zod';
import { shippingAddress } from './shipping.js';

const id = z.uuid();
const currency = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR');
const orderLine = z.object({ productId: id, quantity: z.int().positive().max(1000) });

export const cancellationReasons = [
  'OUT_OF_STOCK',
  'PAYMENT_DECLINED',
  'PAYMENT_UNAVAILABLE',
  'SHIPPING_UNAVAILABLE',
  'TIMEOUT',
] as const;
export const cancellationReason = z.enum([...cancellationReasons, 'USER_DELETED']);

export const messageData = {
  // users
  'user.registered': z.object({
    userId: id,
    email: z.email(),
    name: z.string(),
    role: z.enum(['customer', 'admin']),
  }),
  'user.deleted': z.object({ userId: id }),

  // orders
  'order.created': z.object({
    orderId: id,
    userId: id,
    items: z.array(orderLine.extend({ unitPriceCents: z.int().nonnegative() })).min(1),
    totalCents: z.int().nonnegative(),
    currency,
  }),
  'order.confirmed': z.object({
    orderId: id,
    userId: id,
    totalCents: z.int().nonnegative(),
    currency,
    /** The shipment of an order placed with an address (/api/v2); absent or null otherwise. */
    shipment: z
      .object({ carrier: z.string().min(1), trackingId: z.string().min(1) })
      .nullable()
      .optional(),
  }),
  'order.cancelled': z.object({ orderId: id, userId: id, reason: cancellationReason }),

  // inventory: commands from the saga, and replies
  'stock.reserve': z.object({ orderId: id, items: z.array(orderLine).min(1) }),
  'stock.release': z.object({ orderId: id }),
  'stock.commit': z.object({ orderId: id }),
  'stock.reserved': z.object({ orderId: id }),
  'stock.reservation-failed': z.object({
    orderId: id,
    reason: z.enum(['OUT_OF_STOCK', 'UNKNOWN_PRODUCT']),
    productIds: z.array(id),
  }),
  'stock.released': z.object({ orderId: id }),
  'stock.committed': z.object({ orderId: id }),

  // payments: commands from the saga, and replies
  'payment.authorize': z.object({
    orderId: id,
    userId: id,
    amountCents: z.int().positive(),
    currency,
    token: z.string().min(1).max(200),
  }),
  'payment.capture': z.object({ orderId: id }),
  'payment.void': z.object({ orderId: id }),
  'payment.refund': z.object({ orderId: id }),
  'payment.authorized': z.object({ orderId: id, paymentId: id }),
  'payment.authorization-failed': z.object({ orderId: id, reason: z.enum(['DECLINED', 'UNAVAILABLE']) }),
  'payment.captured': z.object({ orderId: id, paymentId: id }),
  'payment.capture-failed': z.object({ orderId: id, reason: z.enum(['DECLINED', 'UNAVAILABLE']) }),
  'payment.voided': z.object({ orderId: id }),
  'payment.refunded': z.object({ orderId: id }),

  // shipping: commands from the saga, and replies
  'shipment.schedule': z.object({ orderId: id, address: shippingAddress }),
  'shipment.cancel': z.object({ orderId: id }),
  'shipment.scheduled': z.object({ orderId: id, carrier: z.string().min(1), trackingId: z.string().min(1) }),
  'shipment.scheduling-failed': z.object({ orderId: id, reason: z.enum(['SHIPPING_UNAVAILABLE']) }),
  'shipment.cancelled': z.object({ orderId: id }),
} as const;

export type MessageType = keyof typeof messageData;
export type MessageData<T extends MessageType> = z.infer<(typeof messageData)[T]>;
export const messageTypes = Object.keys(messageData) as MessageType[];

export function isMessageType(type: string): type is MessageType {
  return Object.hasOwn(messageData, type);
}
