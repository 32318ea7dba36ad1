// Every event and command of the system, each as a zod schema of its `data`.
// Commands ask one service to do something (the order saga's steps and
// compensations); replies and events say what happened.
import { z } from 'zod';
import { text } from './fields.js';
import { shippingAddress } from './shipping.js';

const id = z.uuid();
const currency = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR');

/**
 * The bounds of an order, shared by the API that takes orders and the messages
 * they become: the API takes up to `lines` lines of up to `quantityPerLine`
 * units, and the saga merges lines of one product, so a message line may carry
 * `lines * quantityPerLine`. Amounts are stored as 32-bit integers.
 */
export const orderLimits = { lines: 50, quantityPerLine: 1000, amountCents: 2_147_483_647 } as const;
const mergedQuantity = z
  .int()
  .positive()
  .max(orderLimits.lines * orderLimits.quantityPerLine);
const orderLine = z.object({ productId: id, quantity: mergedQuantity });
const amountCents = z.int().max(orderLimits.amountCents);

/** The card token a client pays with: the API field and the payment command's, one declaration. */
export const paymentToken = text({ min: 1, max: 200 });
/**
 * An account's email, as registration takes it and `user.registered` carries it.
 * Published as its pattern alone: `format: email` would let each reader apply
 * its own idea of an address (one refuses local parts over 64 characters,
 * another does not), and the pattern is what is checked.
 */
export const emailAddress = z
  .email('an email address such as ann@example.com')
  .max(254)
  .meta({ format: undefined });

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
    email: emailAddress,
    name: z.string(),
    role: z.enum(['customer', 'admin']),
  }),
  'user.deleted': z.object({ userId: id }),

  // orders
  'order.created': z.object({
    orderId: id,
    userId: id,
    items: z.array(orderLine.extend({ unitPriceCents: amountCents.nonnegative() })).min(1),
    totalCents: amountCents.nonnegative(),
    currency,
  }),
  'order.confirmed': z.object({
    orderId: id,
    userId: id,
    totalCents: amountCents.nonnegative(),
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
    amountCents: amountCents.positive(),
    currency,
    token: paymentToken,
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
