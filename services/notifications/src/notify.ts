// Turning events into notifications. Each handler runs inside the consumer's
// transaction, after the platform recorded the message as processed, so a
// redelivery normally never gets here. As a second guard the notification's
// source message id is unique: a copy that gets past the first (a renamed
// consumer group, a replay) inserts nothing, and sends nothing.
import { randomUUID } from 'node:crypto';
import type { Message, Topic } from '@shop/contracts';
import type { ConsumerSpec, HandlerContext, Logger, MessageHandlers } from '@shop/platform';
import type { Transaction } from './db.js';
import { type NotifiedType, renderEmail } from './domain/email.js';

export const NOTIFICATION_TOPICS = ['users.events', 'orders.events'] as const satisfies readonly Topic[];

export interface NotifierOptions {
  /** The sender written on every e-mail. */
  from: string;
}

interface Recipient {
  email: string;
  name: string;
}

/**
 * Records the notification for one event and "sends" its e-mail (a structured log
 * line: this service simulates the mail provider). Returns false when the event
 * had been notified already.
 */
async function notify(
  tx: Transaction,
  message: Message<NotifiedType>,
  log: Logger,
  recipient: Recipient | undefined,
  options: NotifierOptions,
): Promise<boolean> {
  const { subject, body } = renderEmail(message, recipient?.name);
  const notification = {
    id: randomUUID(),
    userId: message.data.userId,
    type: message.type,
    orderId: 'orderId' in message.data ? message.data.orderId : null,
    subject,
    body,
    sourceMessageId: message.id,
  };
  const { count } = await tx.notification.createMany({ data: [notification], skipDuplicates: true });
  if (count === 0) {
    log.info({ sourceMessageId: message.id }, 'this event was notified already; nothing sent');
    return false;
  }
  const about = {
    notificationId: notification.id,
    userId: notification.userId,
    orderId: notification.orderId,
  };
  if (!recipient) {
    // Kept as a notification (the customer sees it in the list), but there is nowhere to mail it.
    log.warn(about, 'no e-mail address known for the user; email not sent');
    return true;
  }
  log.info({ ...about, email: { from: options.from, to: recipient.email, subject, body } }, 'email sent');
  return true;
}

const recipientOf = (tx: Transaction, userId: string) =>
  tx.recipient
    .findUnique({ where: { userId }, select: { email: true, name: true } })
    .then((r) => r ?? undefined);

export function notificationHandlers(options: NotifierOptions): MessageHandlers<Transaction> {
  return {
    'user.registered': async (
      message: Message<'user.registered'>,
      { tx, log }: HandlerContext<Transaction>,
    ) => {
      const { userId, email, name } = message.data;
      // Only a first delivery stores the address: a replayed registration must not
      // bring back the address of a user who has been deleted since.
      if (await notify(tx, message, log, { email, name }, options)) {
        await tx.recipient.upsert({
          where: { userId },
          create: { userId, email, name },
          update: { email, name },
        });
      }
    },
    'user.deleted': async (message: Message<'user.deleted'>, { tx, log }: HandlerContext<Transaction>) => {
      const { userId } = message.data;
      await notify(tx, message, log, await recipientOf(tx, userId), options);
      // The goodbye mail was the last use of the address.
      await tx.recipient.deleteMany({ where: { userId } });
    },
    'order.confirmed': async (
      message: Message<'order.confirmed'>,
      { tx, log }: HandlerContext<Transaction>,
    ) => {
      await notify(tx, message, log, await recipientOf(tx, message.data.userId), options);
    },
    'order.cancelled': async (
      message: Message<'order.cancelled'>,
      { tx, log }: HandlerContext<Transaction>,
    ) => {
      await notify(tx, message, log, await recipientOf(tx, message.data.userId), options);
    },
    // order.created (and anything else on these topics) has no handler: the consumer counts it as ignored.
  };
}

/** The consumer this service runs; tests pass their own prefixed group id. */
export function notificationConsumer(
  options: NotifierOptions,
  groupId = 'notifications',
): ConsumerSpec<Transaction> {
  return { groupId, topics: NOTIFICATION_TOPICS, handlers: notificationHandlers(options) };
}
