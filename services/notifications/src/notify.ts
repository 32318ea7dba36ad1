// Turning events into notifications, and sending their e-mails after commit.
//
// The consumer's transaction records a chunk's notifications (one row per event,
// its `source_message_id` unique, so a copy that got past the consumer's
// processed_messages guard records nothing) with the address to mail, and keeps
// the recipients table in step (an address learned on registration, forgotten
// after the goodbye mail). Only once that has committed are the mails sent, and
// each sent one is marked, so a rolled-back chunk sends nothing. A mail whose
// sending a crash interrupted is found by the sweeper and sent again, under the
// notification's id as the mail's idempotency key.
import { randomUUID } from 'node:crypto';
import type { Message, Topic } from '@shop/contracts';
import type { ConsumerSpec, Database, HandlerContext, Logger, MessageHandling } from '@shop/platform';
import { type NotifiedType, notifiedTypes, renderEmail } from './domain/email.js';

export const NOTIFICATION_TOPICS = ['users.events', 'orders.events'] as const satisfies readonly Topic[];

/** One e-mail to send; `id` is the notification's, and doubles as the mail's idempotency key. */
export interface Mail {
  id: string;
  from: string;
  to: string;
  subject: string;
  body: string;
  userId: string;
  orderId: string | null;
}

/** Where mail goes. This service simulates the mail provider with a structured log line. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
}

export function logMailer(log: Logger): Mailer {
  return {
    async send({ id, from, to, subject, body, userId, orderId }) {
      log.info({ notificationId: id, userId, orderId, email: { from, to, subject, body } }, 'email sent');
    },
  };
}

export interface NotifierOptions {
  /** The sender written on every e-mail. */
  from: string;
  database: Database;
  mailer: Mailer;
  logger: Logger;
  /** A mail claimed for sending is retried by the sweeper after this long. */
  sendLeaseMs?: number;
}

interface Recipient {
  email: string;
  name: string;
}

interface NotificationRow {
  id: string;
  userId: string;
  type: NotifiedType;
  orderId: string | null;
  subject: string;
  body: string;
  sourceMessageId: string;
  emailTo: string | null;
}

const RECORD = {
  name: 'notifications-record',
  text: `INSERT INTO notifications (id, user_id, type, order_id, subject, body, source_message_id, email_to, send_lease)
         SELECT n.*, CASE WHEN n.email_to IS NULL THEN NULL ELSE now() + $9 * interval '1 millisecond' END
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::text[])
                AS n(id, user_id, type, order_id, subject, body, source_message_id, email_to)
         ON CONFLICT (source_message_id) DO NOTHING
         RETURNING id::text`,
};

const RECIPIENTS = {
  name: 'notifications-recipients',
  text: `WITH learned AS (
           INSERT INTO recipients (user_id, email, name, updated_at)
           SELECT * , now() FROM unnest($1::uuid[], $2::text[], $3::text[])
           ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name, updated_at = now())
         DELETE FROM recipients WHERE user_id = ANY($4::uuid[])`,
};

export class Notifier {
  readonly #options: NotifierOptions;
  #sweeper: NodeJS.Timeout | undefined;
  #sweep: Promise<unknown> | undefined;
  #sending = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  readonly handling: MessageHandling = {
    types: notifiedTypes,
    handle: (messages, context) => this.#record(messages as readonly Message<NotifiedType>[], context),
  };

  async #record(
    messages: readonly Message<NotifiedType>[],
    { tx, afterCommit }: HandlerContext,
  ): Promise<void> {
    const users = [...new Set(messages.map((m) => m.data.userId))];
    const { rows } = await tx.query<{ user_id: string; email: string; name: string }>(
      'SELECT user_id, email, name FROM recipients WHERE user_id = ANY($1::uuid[])',
      [users],
    );
    const recipients = new Map<string, Recipient | undefined>(rows.map((r) => [r.user_id, r]));
    const notifications: NotificationRow[] = [];
    const learned: { message: Message<'user.registered'>; recipient: Recipient }[] = [];
    const forgotten: string[] = [];
    for (const message of messages) {
      let recipient = recipients.get(message.data.userId);
      if (message.type === 'user.registered') {
        const { email, name } = message.data;
        recipient = { email, name };
        learned.push({ message, recipient });
        recipients.set(message.data.userId, recipient);
      }
      const { subject, body } = renderEmail(message, recipient?.name);
      notifications.push({
        id: randomUUID(),
        userId: message.data.userId,
        type: message.type,
        orderId: 'orderId' in message.data ? message.data.orderId : null,
        subject,
        body,
        sourceMessageId: message.id,
        emailTo: recipient?.email ?? null,
      });
      if (message.type === 'user.deleted') {
        // The goodbye mail was the last use of the address.
        recipients.set(message.data.userId, undefined);
        forgotten.push(message.data.userId);
      }
    }
    const { rows: created } = await tx.query<{ id: string }>({
      ...RECORD,
      values: [
        notifications.map((n) => n.id),
        notifications.map((n) => n.userId),
        notifications.map((n) => n.type),
        notifications.map((n) => n.orderId),
        notifications.map((n) => n.subject),
        notifications.map((n) => n.body),
        notifications.map((n) => n.sourceMessageId),
        notifications.map((n) => n.emailTo),
        this.#leaseMs(),
      ],
    });
    const fresh = new Set(created.map((r) => r.id));
    const sourceOf = new Map(notifications.map((n) => [n.sourceMessageId, n.id]));
    // Only a first delivery stores the address: a replayed registration must not bring back the
    // address of a user who has been deleted since.
    // A user registered and deleted within the chunk ends with no address at all.
    const gone = new Set(forgotten);
    const stored = learned.filter(
      ({ message }) => fresh.has(sourceOf.get(message.id)!) && !gone.has(message.data.userId),
    );
    if (stored.length > 0 || forgotten.length > 0) {
      await tx.query({
        ...RECIPIENTS,
        values: [
          stored.map(({ message }) => message.data.userId),
          stored.map(({ recipient }) => recipient.email),
          stored.map(({ recipient }) => recipient.name),
          forgotten,
        ],
      });
    }
    const log = this.#options.logger;
    for (const n of notifications) {
      if (!fresh.has(n.id))
        log.info({ sourceMessageId: n.sourceMessageId }, 'this event was notified already; nothing sent');
      else if (!n.emailTo)
        // Kept as a notification (the customer sees it in the list), but there is nowhere to mail it.
        log.warn(
          { notificationId: n.id, userId: n.userId, orderId: n.orderId },
          'no e-mail address known for the user; email not sent',
        );
    }
    const toSend = notifications.filter((n) => fresh.has(n.id) && n.emailTo);
    if (toSend.length > 0) afterCommit(() => this.#send(toSend));
  }

  #leaseMs(): number {
    return this.#options.sendLeaseMs ?? 30_000;
  }

  /** Sends the mails, then marks them sent in one statement. */
  #send(notifications: Omit<NotificationRow, 'type' | 'sourceMessageId'>[]): Promise<void> {
    const sending = (async () => {
      const sent: string[] = [];
      for (const n of notifications) {
        try {
          await this.#options.mailer.send({
            id: n.id,
            from: this.#options.from,
            to: n.emailTo!,
            subject: n.subject,
            body: n.body,
            userId: n.userId,
            orderId: n.orderId,
          });
          sent.push(n.id);
        } catch (err) {
          this.#options.logger.warn(
            { err, notificationId: n.id },
            'sending an email failed; the sweeper retries it',
          );
        }
      }
      if (sent.length === 0) return;
      await this.#options.database
        .query('UPDATE notifications SET sent_at = now(), send_lease = NULL WHERE id = ANY($1::uuid[])', [
          sent,
        ])
        .catch((err) =>
          // Sent but not marked: the sweeper sends it again under the same idempotency key.
          this.#options.logger.warn({ err, notifications: sent.length }, 'marking emails sent failed'),
        );
    })();
    this.#sending.add(sending);
    return sending.finally(() => this.#sending.delete(sending));
  }

  /** Sends again the mails whose sending was interrupted (their lease ran out); returns how many. */
  async sweep(limit = 100): Promise<number> {
    const { rows } = await this.#options.database.query<{
      id: string;
      user_id: string;
      order_id: string | null;
      subject: string;
      body: string;
      email_to: string;
    }>(
      `WITH due AS (
         SELECT id FROM notifications WHERE send_lease < now() AND sent_at IS NULL
          ORDER BY send_lease LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE notifications n SET send_lease = now() + $2 * interval '1 millisecond'
         FROM due WHERE n.id = due.id
       RETURNING n.id, n.user_id, n.order_id, n.subject, n.body, n.email_to`,
      [limit, this.#leaseMs()],
    );
    if (rows.length > 0) {
      this.#options.logger.info({ mails: rows.length }, 'sending again emails whose sending was interrupted');
      await this.#send(
        rows.map((r) => ({
          id: r.id,
          userId: r.user_id,
          orderId: r.order_id,
          subject: r.subject,
          body: r.body,
          emailTo: r.email_to,
        })),
      );
    }
    return rows.length;
  }

  start(intervalMs = 5000): void {
    const tick = async () => {
      if (this.#stopped) return;
      this.#sweep = this.sweep().catch((err) =>
        this.#options.logger.warn({ err }, 'looking for unsent emails failed'),
      );
      await this.#sweep;
      if (!this.#stopped) this.#sweeper = setTimeout(tick, intervalMs);
    };
    this.#sweeper = setTimeout(tick, intervalMs);
  }

  /** Resolves once the mails being sent are sent and marked. */
  async idle(): Promise<void> {
    while (this.#sending.size > 0) await Promise.allSettled([...this.#sending]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#sweeper);
    await this.#sweep;
    await this.idle();
  }

  /** The consumer this service runs; tests pass their own prefixed group id. */
  consumer(groupId = 'notifications'): ConsumerSpec {
    return { groupId, topics: NOTIFICATION_TOPICS, handling: this.handling };
  }
}
