// The saga's forward payment commands. Each runs inside the consumer's
// transaction (so a redelivered message finds itself processed and does
// nothing), locks the order's payment, lets a pure decision say what to do,
// calls the provider only when the decision says so, and answers through the
// outbox. The provider is called while the row is locked: concurrent commands
// for one order wait, and if this transaction is lost after the provider acted
// (a crash, a dropped connection), the redelivered command asks again with the
// same Idempotency-Key and gets the provider's first answer back.
import type { MessageData } from '@shop/contracts';
import type { Transaction } from './db.js';
import {
  afterAuthorization,
  afterCapture,
  decideAuthorize,
  decideCapture,
  type Reply,
} from './domain/payment.js';
import { lockOrCreatePayment, lockPayment, savePayment, sendReply } from './payment-store.js';
import type { PaymentProvider } from './provider/client.js';

/** Returns the reply it queued, for the caller's metrics and for tests. */
export async function authorizePayment(
  tx: Transaction,
  provider: PaymentProvider,
  command: MessageData<'payment.authorize'>,
): Promise<Reply> {
  const { orderId, userId, amountCents, currency } = command;
  const payment = await lockOrCreatePayment(tx, orderId, {
    status: 'AUTHORIZING',
    userId,
    amountCents,
    currency,
  });
  const decision = decideAuthorize(payment, command);
  if (decision.action === 'reject') throw new Error(decision.why); // retried, then dead-lettered for a human
  if (decision.action === 'reply') {
    await sendReply(tx, decision.reply);
    return decision.reply;
  }
  const { change, reply } = afterAuthorization(payment, await provider.authorize(command));
  await savePayment(tx, payment, change);
  await sendReply(tx, reply);
  return reply;
}

export async function capturePayment(
  tx: Transaction,
  provider: PaymentProvider,
  { orderId }: MessageData<'payment.capture'>,
): Promise<Reply> {
  const payment = await lockPayment(tx, orderId);
  const decision = decideCapture(payment, orderId);
  if (decision.action === 'reply') {
    await sendReply(tx, decision.reply);
    return decision.reply;
  }
  const outcome = await provider.capture(orderId, decision.authorizationId);
  const { change, reply } = afterCapture(decision.payment, outcome);
  await savePayment(tx, decision.payment, change);
  await sendReply(tx, reply);
  return reply;
}
