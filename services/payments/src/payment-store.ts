// The payments table as the command handlers use it: lock an order's payment
// (creating it when a command may start one), apply a decision's change, and
// queue the reply to the saga in the same transaction.
import { buildMessage, type MessageData } from '@shop/contracts';
import { currentTraceparent, enqueue } from '@shop/platform';
import type { Transaction } from './db.js';
import type { Payment, PaymentChange, Reply } from './domain/payment.js';
import type { Prisma } from './generated/prisma/client.js';

/**
 * Locks the order's payment row (`FOR UPDATE`), so commands for one order run
 * one after the other: what was decided on is still true when it is written.
 */
export async function lockPayment(tx: Transaction, orderId: string): Promise<Payment | undefined> {
  // Plain SQL: this runs for every command, and a Prisma model query costs several times
  // the CPU of the same statement (bench/FINDINGS.md).
  const rows = await tx.$queryRaw<Payment[]>`
    SELECT id, order_id AS "orderId", status, user_id AS "userId", amount_cents AS "amountCents",
           currency, provider_authorization_id AS "providerAuthorizationId"
      FROM payments WHERE order_id = ${orderId}::uuid FOR UPDATE`;
  return rows[0];
}

/** Locks the order's payment, first creating it as `initial` when the order has none. */
export async function lockOrCreatePayment(
  tx: Transaction,
  orderId: string,
  initial: Omit<Prisma.PaymentCreateManyInput, 'orderId'>,
): Promise<Payment> {
  const existing = await lockPayment(tx, orderId);
  if (existing) return existing;
  // ON CONFLICT DO NOTHING: when a concurrent command is creating the same
  // order's row, this waits for it to commit and then locks that row instead.
  await tx.payment.createMany({ data: [{ orderId, ...initial }], skipDuplicates: true });
  const payment = await lockPayment(tx, orderId);
  if (!payment) throw new Error(`order ${orderId}: the payment row vanished while being created`);
  return payment;
}

export async function savePayment(tx: Transaction, payment: Payment, change: PaymentChange): Promise<void> {
  if (Object.keys(change).length === 0) return;
  await tx.payment.update({ where: { id: payment.id }, data: change });
}

export async function sendReply<T extends Reply['type']>(
  tx: Transaction,
  reply: { type: T; data: MessageData<T> },
): Promise<void> {
  await enqueue(
    tx,
    buildMessage(reply.type, reply.data.orderId, reply.data, {
      source: 'payments',
      traceparent: currentTraceparent(),
    }),
  );
}
