// The orchestrator against a real database: replies, overdue steps and
// cancellations move the saga, persist every step, and send its messages.
import { randomUUID } from 'node:crypto';
import { buildMessage } from '@shop/contracts';
import { createRegistry, type MessageHandler } from '@shop/platform';
import { createServiceDatabase, handleInTransaction, type TestDatabase, testLogger } from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient, type Transaction } from '../src/db.js';
import { OrderSaga } from '../src/saga/orchestrator.js';
import type { ReplyType } from '../src/saga/order-saga.js';

let db: TestDatabase;
let prisma: PrismaClient;
const timeouts = {
  reserveMs: 60_000,
  authorizeMs: 60_000,
  captureMs: 60_000,
  compensationMs: 1000,
  compensationMaxMs: 8000,
};
const saga = new OrderSaga(timeouts, testLogger());
const handlers = saga.handlers();

beforeAll(async () => {
  db = await createServiceDatabase('orders');
  prisma = createPrisma(db.url, 8);
});
afterAll(async () => {
  await prisma.$disconnect();
  await db.drop();
});

async function placeOrder(userId = randomUUID()): Promise<string> {
  const orderId = randomUUID();
  const items = [{ productId: randomUUID(), quantity: 1, unitPriceCents: 500 }];
  await prisma.$transaction(async (tx) => {
    await tx.order.create({
      data: {
        id: orderId,
        userId,
        sagaStep: 'RESERVING_STOCK',
        totalCents: 500,
        currency: 'EUR',
        paymentToken: 'tok_visa',
        stepDeadline: saga.firstDeadline(),
        items: { create: items },
      },
    });
    await saga.begin(tx, {
      orderId,
      userId,
      items,
      totalCents: 500,
      currency: 'EUR',
      paymentToken: 'tok_visa',
    });
  });
  return orderId;
}

async function deliver(type: ReplyType, orderId: string, extra: Record<string, unknown> = {}) {
  const message = buildMessage(type, orderId, { orderId, ...extra } as never, { source: 'test' });
  const handler = handlers[type] as MessageHandler<typeof type, Transaction>;
  await handleInTransaction((work) => prisma.$transaction(work), handler, message);
}

const sent = async (orderId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: orderId }, orderBy: { id: 'asc' } })).map(
    (m) => m.type,
  );
const order = (id: string) => prisma.order.findUniqueOrThrow({ where: { id } });
const overdue = (id: string) =>
  prisma.order.update({ where: { id }, data: { stepDeadline: new Date(Date.now() - 1000) } });

describe('order saga orchestrator', () => {
  it('walks the happy path to CONFIRMED, recording each step', async () => {
    const id = await placeOrder();
    await deliver('stock.reserved', id);
    await deliver('payment.authorized', id, { paymentId: randomUUID() });
    await deliver('payment.captured', id, { paymentId: randomUUID() });
    expect(await order(id)).toMatchObject({ status: 'CONFIRMED', sagaStep: 'DONE', stepDeadline: null });
    expect(await sent(id)).toEqual([
      'order.created',
      'stock.reserve',
      'payment.authorize',
      'payment.capture',
      'stock.commit',
      'order.confirmed',
    ]);
    const history = await prisma.sagaTransition.findMany({ where: { orderId: id }, orderBy: { id: 'asc' } });
    expect(history.map((t) => `${t.fromStep}>${t.toStep}`)).toEqual([
      'RESERVING_STOCK>AUTHORIZING_PAYMENT',
      'AUTHORIZING_PAYMENT>CAPTURING_PAYMENT',
      'CAPTURING_PAYMENT>DONE',
    ]);
  });

  it('counts a step in its metrics only once the transaction that took it has committed', async () => {
    const metrics = createRegistry('orders');
    const counted = new OrderSaga(timeouts, testLogger(), metrics);
    const transitions = async () =>
      (await metrics.getSingleMetric('order_saga_transitions_total')?.get())?.values.reduce(
        (sum, v) => sum + v.value,
        0,
      ) ?? 0;
    const id = await placeOrder();
    const reply = buildMessage('stock.reserved', id, { orderId: id } as never, { source: 'test' });
    const handler = counted.handlers()['stock.reserved'] as MessageHandler<'stock.reserved', Transaction>;
    // The handling succeeds, then its transaction fails (the consumer would retry it): nothing counted.
    const rolledBack = handleInTransaction(
      (work) =>
        prisma.$transaction(async (tx) => {
          await work(tx);
          throw new Error('the commit failed');
        }),
      handler,
      reply,
    );
    await expect(rolledBack).rejects.toThrow('the commit failed');
    expect(await order(id)).toMatchObject({ sagaStep: 'RESERVING_STOCK' });
    expect(await transitions()).toBe(0);
    // The retry commits: counted once.
    await handleInTransaction((work) => prisma.$transaction(work), handler, reply);
    expect(await order(id)).toMatchObject({ sagaStep: 'AUTHORIZING_PAYMENT' });
    expect(await transitions()).toBe(1);
  });

  it('ignores a reply delivered twice or out of turn', async () => {
    const id = await placeOrder();
    await deliver('stock.reserved', id);
    await deliver('stock.reserved', id);
    await deliver('payment.captured', id, { paymentId: randomUUID() });
    expect(await order(id)).toMatchObject({ status: 'PENDING', sagaStep: 'AUTHORIZING_PAYMENT' });
    expect(await sent(id)).toEqual(['order.created', 'stock.reserve', 'payment.authorize']);
  });

  it('compensates an overdue step and re-sends an overdue compensation with a growing wait', async () => {
    const id = await placeOrder();
    await deliver('stock.reserved', id);
    await overdue(id);
    expect(await saga.sweep(prisma)).toBeGreaterThanOrEqual(1);
    expect(await order(id)).toMatchObject({
      sagaStep: 'VOIDING_PAYMENT',
      cancellationReason: 'TIMEOUT',
      stepAttempts: 1,
    });

    const firstWait = (await order(id)).stepDeadline!.getTime() - Date.now();
    await overdue(id);
    await saga.sweep(prisma);
    const resent = await order(id);
    expect(resent).toMatchObject({ sagaStep: 'VOIDING_PAYMENT', stepAttempts: 2 });
    expect(resent.stepDeadline!.getTime() - Date.now()).toBeGreaterThan(firstWait);
    expect((await sent(id)).filter((t) => t === 'payment.void')).toHaveLength(2);

    await deliver('payment.voided', id);
    await deliver('stock.released', id);
    expect(await order(id)).toMatchObject({
      status: 'CANCELLED',
      cancellationReason: 'TIMEOUT',
      stepDeadline: null,
    });
    expect((await sent(id)).at(-1)).toBe('order.cancelled');
  });

  it('applies each overdue deadline once when several sweepers run at the same time', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => placeOrder()));
    await Promise.all(ids.map(overdue));
    await Promise.all([saga.sweep(prisma), saga.sweep(prisma), saga.sweep(prisma)]);
    for (const id of ids) {
      expect(await order(id)).toMatchObject({ sagaStep: 'RELEASING_STOCK', stepAttempts: 1 });
      expect((await sent(id)).filter((t) => t === 'stock.release')).toHaveLength(1);
    }
  });

  it('cancels the pending orders of a deleted user through their compensations', async () => {
    const userId = randomUUID();
    const pending = await placeOrder(userId);
    await deliver('stock.reserved', pending);
    const confirmed = await placeOrder(userId);
    await deliver('stock.reserved', confirmed);
    await deliver('payment.authorized', confirmed, { paymentId: randomUUID() });
    await deliver('payment.captured', confirmed, { paymentId: randomUUID() });

    const deleted = buildMessage('user.deleted', userId, { userId }, { source: 'users' });
    await handleInTransaction((work) => prisma.$transaction(work), handlers['user.deleted']!, deleted);
    expect(await order(pending)).toMatchObject({
      sagaStep: 'VOIDING_PAYMENT',
      cancellationReason: 'USER_DELETED',
    });
    expect(await order(confirmed)).toMatchObject({ status: 'CONFIRMED' });
  });

  it('carries the trace of the request that placed the order into messages sent on a timeout', async () => {
    const id = await placeOrder();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await prisma.order.update({ where: { id }, data: { traceparent } });
    await overdue(id);
    await saga.sweep(prisma);
    const release = await prisma.outboxMessage.findFirstOrThrow({
      where: { key: id, type: 'stock.release' },
    });
    expect((release.payload as { traceparent: string }).traceparent).toBe(traceparent);
  });
});
