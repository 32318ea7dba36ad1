// The Kafka handlers for payments.commands, and a count of what each command
// came to, so a compensation that keeps being deferred (provider down) shows
// in /metrics rather than only in the logs.
import type { Message } from '@shop/contracts';
import { Counter, type MessageHandlers, metric, type Registry } from '@shop/platform';
import { compensatePayment } from './compensation.js';
import type { Transaction } from './db.js';
import type { Reply } from './domain/payment.js';
import { authorizePayment, capturePayment } from './payments.js';
import type { PaymentProvider } from './provider/client.js';

export function paymentHandlers(provider: PaymentProvider, metrics?: Registry): MessageHandlers<Transaction> {
  const outcomes =
    metrics &&
    metric(
      metrics,
      'payments_command_outcomes_total',
      () =>
        new Counter({
          name: 'payments_command_outcomes_total',
          help: 'Payment commands by the reply they got, or "deferred" (a compensation the provider could not take yet). Counted when handled, so a transaction retried after a database fault counts twice.',
          labelNames: ['command', 'outcome'],
          registers: [metrics],
        }),
    );
  const count = (command: string, reply: Reply | undefined) =>
    outcomes?.inc({ command, outcome: reply?.type ?? 'deferred' });

  return {
    'payment.authorize': async (message: Message<'payment.authorize'>, { tx }) => {
      count('authorize', await authorizePayment(tx, provider, message.data));
    },
    'payment.capture': async (message: Message<'payment.capture'>, { tx }) => {
      count('capture', await capturePayment(tx, provider, message.data));
    },
    'payment.void': async (message: Message<'payment.void'>, { tx, log }) => {
      count('void', await compensatePayment(tx, provider, message.data.orderId, 'void', log));
    },
    'payment.refund': async (message: Message<'payment.refund'>, { tx, log }) => {
      count('refund', await compensatePayment(tx, provider, message.data.orderId, 'refund', log));
    },
  };
}
