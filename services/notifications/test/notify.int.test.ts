// The event handling against a real database with the service's migrations:
// notifications recorded in the consumer's transaction, mails sent after it.
import { randomUUID } from 'node:crypto';
import { buildMessage, type Message, type MessageData, type MessageType } from '@shop/contracts';
import type { Database, Logger } from '@shop/platform';
import { createServiceDatabase, handleInTransaction, type TestDatabase, testLogger } from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { cancellationSentences } from '../src/domain/email.js';
import { Prisma } from '../src/generated/prisma/client.js';
import { logMailer, Notifier } from '../src/notify.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createServiceDatabase('notifications');
  ({ database, prisma } = createDatabase(db.url, 4));
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

const event = <T extends MessageType>(type: T, key: string, data: MessageData<T>) =>
  buildMessage(type, key, data, { source: 'test' });

const notifier = (log: Logger) =>
  new Notifier({ from: 'shop <no-reply@shop.example>', database, mailer: logMailer(log), logger: log });

function spied() {
  const log = testLogger();
  const info = vi.spyOn(log, 'info');
  const warn = vi.spyOn(log, 'warn');
  const lines = (spy: typeof info) => spy.mock.calls.map((call) => ({ fields: call[0], msg: call[1] }));
  return { log, lines: () => ({ info: lines(info), warn: lines(warn) }) };
}

/**
 * Delivers messages the way the consumer does (one chunk in one transaction), then waits for the
 * mails sent after its commit. Returns what was logged (the simulated mail provider logs each mail).
 */
async function deliver(...messages: Message[]) {
  const { log, lines } = spied();
  const handling = notifier(log);
  await handleInTransaction(database, handling.handling, messages, log);
  await handling.idle();
  return lines();
}

const notificationsOf = (userId: string) =>
  prisma.notification.findMany({ where: { userId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });

async function registered(name = 'Ada Lovelace') {
  const userId = randomUUID();
  const email = `${userId}@example.com`;
  const message = event('user.registered', userId, { userId, email, name, role: 'customer' });
  return { userId, email, message, log: await deliver(message) };
}

describe('notification handlers', () => {
  it('welcomes a registered user: one notification, the address kept, the mail logged', async () => {
    const { userId, email, message, log } = await registered();
    const [welcome, ...others] = await notificationsOf(userId);
    expect(others).toEqual([]);
    expect(welcome).toMatchObject({
      userId,
      type: 'user.registered',
      orderId: null,
      subject: 'Welcome to shop',
      sourceMessageId: message.id,
    });
    expect(welcome?.body).toMatch(/^Hi Ada Lovelace,/);
    expect(await prisma.recipient.findUnique({ where: { userId } })).toMatchObject({
      email,
      name: 'Ada Lovelace',
    });
    expect(log.info).toEqual([
      {
        msg: 'email sent',
        fields: {
          notificationId: welcome?.id,
          userId,
          orderId: null,
          email: {
            from: 'shop <no-reply@shop.example>',
            to: email,
            subject: 'Welcome to shop',
            body: welcome?.body,
          },
        },
      },
    ]);
  });

  it('confirms an order to the registered address, with the total', async () => {
    const { userId, email } = await registered('Grace');
    const orderId = randomUUID();
    const message = event('order.confirmed', orderId, {
      orderId,
      userId,
      totalCents: 4_250,
      currency: 'EUR',
    });
    const log = await deliver(message);
    const confirmed = await prisma.notification.findUniqueOrThrow({ where: { sourceMessageId: message.id } });
    expect(confirmed).toMatchObject({ userId, orderId, type: 'order.confirmed' });
    expect(confirmed.subject).toBe(`Your order ${orderId.slice(0, 8).toUpperCase()} is confirmed`);
    expect(confirmed.body).toMatch(/^Hi Grace,/);
    expect(confirmed.body).toContain('Total: €42.50');
    expect(log.info.find((l) => l.msg === 'email sent')?.fields).toMatchObject({
      notificationId: confirmed.id,
      orderId,
      email: { to: email },
    });
  });

  it('records a cancellation with the sentence for each reason', async () => {
    const { userId } = await registered();
    for (const reason of Object.keys(cancellationSentences) as (keyof typeof cancellationSentences)[]) {
      const orderId = randomUUID();
      const message = event('order.cancelled', orderId, { orderId, userId, reason });
      await deliver(message);
      const cancelled = await prisma.notification.findUniqueOrThrow({
        where: { sourceMessageId: message.id },
      });
      expect(cancelled).toMatchObject({ userId, orderId, type: 'order.cancelled' });
      expect(cancelled.body).toContain(cancellationSentences[reason]);
    }
    expect(await prisma.notification.count({ where: { userId, type: 'order.cancelled' } })).toBe(
      Object.keys(cancellationSentences).length,
    );
  });

  it('says goodbye on deletion, then forgets the address', async () => {
    const { userId, email } = await registered('Ada');
    const message = event('user.deleted', userId, { userId });
    const log = await deliver(message);
    const goodbye = await prisma.notification.findUniqueOrThrow({ where: { sourceMessageId: message.id } });
    expect(goodbye).toMatchObject({
      type: 'user.deleted',
      orderId: null,
      subject: 'Your shop account has been deleted',
    });
    expect(goodbye.body).toMatch(/^Hi Ada,/);
    expect(log.info.find((l) => l.msg === 'email sent')?.fields).toMatchObject({ email: { to: email } });
    expect(await prisma.recipient.findUnique({ where: { userId } })).toBeNull();

    // The orders still open are cancelled after the account is gone: recorded, but there is nowhere to mail it.
    const orderId = randomUUID();
    const cancelled = event('order.cancelled', orderId, { orderId, userId, reason: 'USER_DELETED' });
    const afterwards = await deliver(cancelled);
    expect(await prisma.notification.count({ where: { sourceMessageId: cancelled.id } })).toBe(1);
    expect(afterwards.info.map((l) => l.msg)).not.toContain('email sent');
    expect(afterwards.warn.map((l) => l.msg)).toEqual([
      'no e-mail address known for the user; email not sent',
    ]);
  });

  it('records one notification and sends one mail for a message delivered twice', async () => {
    const { userId, message } = await registered();
    const again = await deliver(message);
    expect(await notificationsOf(userId)).toHaveLength(1);
    expect(again.info.map((l) => l.msg)).toEqual(['this event was notified already; nothing sent']);

    const orderId = randomUUID();
    const confirmed = event('order.confirmed', orderId, {
      orderId,
      userId,
      totalCents: 100,
      currency: 'EUR',
    });
    // Both copies at once: the unique source message id serialises them, the second inserts nothing.
    const logs = await Promise.all([deliver(confirmed), deliver(confirmed)]);
    expect(await prisma.notification.count({ where: { sourceMessageId: confirmed.id } })).toBe(1);
    expect(
      logs.flatMap((l) => l.info.map((line) => line.msg)).filter((m) => m === 'email sent'),
    ).toHaveLength(1);
  });

  it("does not bring back a deleted user's address when the registration is replayed", async () => {
    const { userId, message } = await registered();
    await deliver(event('user.deleted', userId, { userId }));
    await deliver(message);
    expect(await prisma.recipient.findUnique({ where: { userId } })).toBeNull();
    expect(await notificationsOf(userId)).toHaveLength(2);
  });

  it('handles only the four events a customer hears about: order.created is left to the consumer to ignore', () => {
    expect([...notifier(testLogger()).handling.types].sort()).toEqual([
      'order.cancelled',
      'order.confirmed',
      'user.deleted',
      'user.registered',
    ]);
  });

  it('records a chunk of events together: a registration and the orders behind it, one mail each', async () => {
    const userId = randomUUID();
    const orders = [randomUUID(), randomUUID()];
    const log = await deliver(
      event('user.registered', userId, {
        userId,
        email: `${userId}@example.com`,
        name: 'Lin',
        role: 'customer',
      }),
      ...orders.map((orderId) =>
        event('order.confirmed', orderId, { orderId, userId, totalCents: 100, currency: 'EUR' }),
      ),
    );
    // One transaction: one created_at for all three, so they are compared as a set.
    expect((await notificationsOf(userId)).map((n) => n.type).sort()).toEqual([
      'order.confirmed',
      'order.confirmed',
      'user.registered',
    ]);
    const mails = log.info.filter((l) => l.msg === 'email sent');
    expect(mails.map((l) => (l.fields as { email: { to: string } }).email.to)).toEqual(
      Array(3).fill(`${userId}@example.com`),
    );
    expect((await notificationsOf(userId)).every((n) => n.sentAt !== null)).toBe(true);
  });

  it('sends nothing when the recording transaction rolls back', async () => {
    const { log, lines } = spied();
    const handling = notifier(log);
    const { userId, email } = await registered();
    const orderId = randomUUID();
    const confirmed = event('order.confirmed', orderId, { orderId, userId, totalCents: 1, currency: 'EUR' });
    const effects: (() => unknown)[] = [];
    await expect(
      database.transaction(async (tx) => {
        await handling.handling.handle([confirmed], {
          tx,
          log,
          afterCommit: (effect) => effects.push(effect),
          traceparent: () => null,
          within: (_m, work) => work(),
        });
        throw new Error('the commit failed');
      }),
    ).rejects.toThrow('the commit failed');
    expect(effects).toHaveLength(1); // registered, but the consumer runs it only after a commit
    expect(lines().info.map((l) => l.msg)).not.toContain('email sent');
    expect(await prisma.notification.count({ where: { sourceMessageId: confirmed.id } })).toBe(0);
    expect(email).toBeTruthy();
  });

  it('sends again, once, a mail whose sending a crash interrupted', async () => {
    const { userId } = await registered('Kay');
    const orderId = randomUUID();
    const confirmed = event('order.confirmed', orderId, { orderId, userId, totalCents: 5, currency: 'EUR' });
    const { log, lines } = spied();
    const crashed = notifier(log);
    // Recorded and committed; the process dies before the mail goes out (nothing after the commit runs).
    await database.transaction((tx) =>
      crashed.handling.handle([confirmed], {
        tx,
        log,
        afterCommit: () => undefined,
        traceparent: () => null,
        within: (_m, work) => work(),
      }),
    );
    const row = await prisma.notification.findUniqueOrThrow({ where: { sourceMessageId: confirmed.id } });
    expect(row).toMatchObject({ sentAt: null, sendLease: expect.any(Date) });
    const restarted = notifier(log);
    expect(await restarted.sweep()).toBe(0); // its lease still holds
    // Its lease ran out a second ago. (A lease of exactly now() is due only if the sweep's
    // transaction starts strictly later by the server's clock, which failed once in CI.)
    await database.query("UPDATE notifications SET send_lease = now() - interval '1 second' WHERE id = $1", [
      row.id,
    ]);
    expect(await restarted.sweep()).toBe(1);
    expect(await restarted.sweep()).toBe(0);
    const mails = lines().info.filter((l) => l.msg === 'email sent');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.fields).toMatchObject({ notificationId: row.id, orderId });
    expect(await prisma.notification.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      sentAt: expect.any(Date),
      sendLease: null,
    });
  });

  it('lets the database itself refuse a second notification for one source message', async () => {
    const row = {
      userId: randomUUID(),
      type: 'user.deleted',
      subject: 's',
      body: 'b',
      sourceMessageId: randomUUID(),
    };
    await prisma.notification.create({ data: row });
    const duplicate = await prisma.notification.create({ data: row }).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    expect((duplicate as Prisma.PrismaClientKnownRequestError).code).toBe('P2002');
  });
});
