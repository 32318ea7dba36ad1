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
          help: 'Payment commands by the reply they got, or "deferred" (a compensation the provider could not take yet). Counted once the handling has committed.',
          labelNames: ['command', 'outcome'],
          registers: [metrics],
        }),
    );
  // After the commit: a handling that is rolled back and retried counts once.
  const count = (afterCommit: (effect: () => void) => void, command: string, reply: Reply | undefined) =>
    afterCommit(() => outcomes?.inc({ command, outcome: reply?.type ?? 'deferred' }));

  return {
    'payment.authorize': async (message: Message<'payment.authorize'>, { tx, afterCommit }) => {
      count(afterCommit, 'authorize', await authorizePayment(tx, provider, message.data));
    },
    'payment.capture': async (message: Message<'payment.capture'>, { tx, afterCommit }) => {
      count(afterCommit, 'capture', await capturePayment(tx, provider, message.data));
    },
    'payment.void': async (message: Message<'payment.void'>, { tx, log, afterCommit }) => {
      count(afterCommit, 'void', await compensatePayment(tx, provider, message.data.orderId, 'void', log));
    },
    'payment.refund': async (message: Message<'payment.refund'>, { tx, log, afterCommit }) => {
      count(
        afterCommit,
        'refund',
        await compensatePayment(tx, provider, message.data.orderId, 'refund', log),
      );
    },
  };
}
