// What the payment of an order looks like over HTTP (support and tests).
import { z } from 'zod';
import type { PaymentFailure, PaymentStatus } from '../generated/prisma/enums.js';

const statuses = [
  'AUTHORIZING',
  'AUTHORIZED',
  'DECLINED',
  'UNKNOWN',
  'CAPTURED',
  'VOIDED',
  'REFUNDED',
] as const satisfies readonly PaymentStatus[];
const failures = [
  'DECLINED',
  'UNAVAILABLE',
  'CAPTURE_DECLINED',
  'CAPTURE_UNAVAILABLE',
] as const satisfies readonly PaymentFailure[];

export const paymentView = z.object({
  paymentId: z.uuid(),
  orderId: z.uuid(),
  status: z.enum(statuses),
  /** Null only for a tombstone: the order was compensated before it was ever authorized. */
  amountCents: z.int().nullable(),
  currency: z.string().nullable(),
  failureReason: z.enum(failures).nullable(),
  /** The provider's id for the authorization; shown to admins only (it is what support quotes to the provider). */
  providerAuthorizationId: z.string().nullable().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type PaymentView = z.infer<typeof paymentView>;

export interface StoredPayment {
  id: string;
  orderId: string;
  status: PaymentStatus;
  amountCents: number | null;
  currency: string | null;
  failureReason: PaymentFailure | null;
  providerAuthorizationId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toView(payment: StoredPayment, { forAdmin }: { forAdmin: boolean }): PaymentView {
  return {
    paymentId: payment.id,
    orderId: payment.orderId,
    status: payment.status,
    amountCents: payment.amountCents,
    currency: payment.currency,
    failureReason: payment.failureReason,
    ...(forAdmin ? { providerAuthorizationId: payment.providerAuthorizationId } : {}),
    createdAt: payment.createdAt.toISOString(),
    updatedAt: payment.updatedAt.toISOString(),
  };
}

/** The order's owner or an admin may see a payment; anyone else learns nothing, not even that it exists. */
export function maySee(user: { id: string; role: 'customer' | 'admin' }, payment: { userId: string | null }) {
  return user.role === 'admin' || (payment.userId !== null && payment.userId === user.id);
}
