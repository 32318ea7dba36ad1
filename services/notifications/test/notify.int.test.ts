// The event handlers against a real database with the service's migrations.
import { randomUUID } from 'node:crypto';
import { buildMessage, type Message, type MessageData, type MessageType } from '@shop/contracts';
import type { MessageHandler } from '@shop/platform';
import { createServiceDatabase, handleInTransaction, type TestDatabase, testLogger } from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPrisma, type PrismaClient, type Transaction } from '../src/db.js';
import { cancellationSentences } from '../src/domain/email.js';
import { Prisma } from '../src/generated/prisma/client.js';
import { notificationHandlers } from '../src/notify.js';

let db: TestDatabase;
let prisma: PrismaClient;
const handlers = notificationHandlers({ from: 'shop <no-reply@shop.example>' });

beforeAll(async () => {
  db = await createServiceDatabase('notifications');
  prisma = createPrisma(db.url, 4);
});
afterAll(async () => {
  await prisma.$disconnect();
  await db.drop();
});

const event = <T extends MessageType>(type: T, key: string, data: MessageData<T>) =>
  buildMessage(type, key, data, { source: 'test' });

/** Delivers a message the way the consumer does: the handler inside one transaction. Returns the log spies. */
async function deliver<T extends MessageType>(message: Message<T>) {
  const handler = handlers[message.type] as MessageHandler<T, Transaction> | undefined;
  if (!handler) throw new Error(`no handler for ${message.type}`);
  const log = testLogger();
  const info = vi.spyOn(log, 'info');
  const warn = vi.spyOn(log, 'warn');
  await handleInTransaction((work) => prisma.$transaction(work), handler, message, log);
  const lines = (spy: typeof info) => spy.mock.calls.map((call) => ({ fields: call[0], msg: call[1] }));
  return { info: lines(info), warn: lines(warn) };
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
    expect(await prisma.notification.count({ where: { userId, type: 'order.cancelled' } })).toBe(5);
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
    expect(Object.keys(handlers).sort()).toEqual([
      'order.cancelled',
      'order.confirmed',
      'user.deleted',
      'user.registered',
    ]);
    expect(handlers['order.created']).toBeUndefined();
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
