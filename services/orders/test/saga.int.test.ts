// The orchestrator against a real database: replies, overdue steps and
// cancellations move the saga, persist every step, and send its messages.
import { randomUUID } from 'node:crypto';
import { buildMessage, type Message, type MessageType } from '@shop/contracts';
import { createRegistry, type Database } from '@shop/platform';
import { createServiceDatabase, handleInTransaction, type TestDatabase, testLogger } from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { placeOrder as insertOrder } from '../src/order-store.js';
import { uniformTimeouts } from '../src/saga/deadlines.js';
import { OrderSaga } from '../src/saga/orchestrator.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;
const timeouts = uniformTimeouts(60_000, 1000, 8000);
const saga = new OrderSaga(timeouts, testLogger());

beforeAll(async () => {
  db = await createServiceDatabase('orders');
  ({ database, prisma } = createDatabase(db.url, 8));
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

async function placeOrder(userId = randomUUID(), traceparent: string | null = null): Promise<string> {
  const orderId = randomUUID();
  const items = [{ productId: randomUUID(), quantity: 1, unitPriceCents: 500 }];
  const facts = {
    orderId,
    userId,
    items,
    totalCents: 500,
    currency: 'EUR',
    paymentToken: 'tok_visa',
    shippingAddress: null,
  };
  const first = saga.begin(facts, traceparent);
  await insertOrder(
    database,
    {
      id: orderId,
      userId,
      idempotencyKey: randomUUID(),
      requestHash: 'test',
      items,
      totalCents: 500,
      currency: 'EUR',
      paymentToken: 'tok_visa',
      sagaStep: first.step,
      stepDeadlineMs: saga.firstDeadline(first.step),
      traceparent,
      shippingAddress: null,
    },
    first.messages,
  );
  return orderId;
}

const replyOf = (type: MessageType, orderId: string, extra: Record<string, unknown> = {}): Message =>
  buildMessage(type, orderId, { orderId, ...extra } as never, { source: 'test' });

/** Replies handled as the consumer hands them over: one chunk, one transaction. */
const deliverAll = (messages: Message[], handling = saga.handling()) =>
  handleInTransaction(database, handling, messages);
const deliver = (type: MessageType, orderId: string, extra: Record<string, unknown> = {}) =>
  deliverAll([replyOf(type, orderId, extra)]);

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
    const reply = replyOf('stock.reserved', id);
    // The handling succeeds, then its transaction fails (the consumer would retry it): nothing counted.
    const effects: (() => unknown)[] = [];
    const rolledBack = database.transaction(async (tx) => {
      await counted.handling().handle([reply], {
        tx,
        log: testLogger(),
        afterCommit: (effect) => effects.push(effect),
        traceparent: () => null,
        within: (_m, work) => work(),
      });
      throw new Error('the commit failed');
    });
    await expect(rolledBack).rejects.toThrow('the commit failed');
    expect(await order(id)).toMatchObject({ sagaStep: 'RESERVING_STOCK' });
    expect(await transitions()).toBe(0);
    // The retry commits: counted once.
    await deliverAll([reply], counted.handling());
    expect(await order(id)).toMatchObject({ sagaStep: 'AUTHORIZING_PAYMENT' });
    expect(await transitions()).toBe(1);
  });

  it('applies a chunk of replies for many orders in one transaction, several for one order in turn', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => placeOrder()));
    const paymentId = randomUUID();
    await deliverAll([
      ...ids.map((id) => replyOf('stock.reserved', id)),
      replyOf('payment.authorized', ids[0]!, { paymentId }),
      replyOf('payment.captured', ids[0]!, { paymentId }),
      replyOf('payment.authorization-failed', ids[1]!, { reason: 'DECLINED' }),
      replyOf('stock.reserved', ids[2]!), // a copy, out of turn now: ignored
    ]);
    expect(await order(ids[0]!)).toMatchObject({ status: 'CONFIRMED', sagaStep: 'DONE' });
    expect(await order(ids[1]!)).toMatchObject({
      sagaStep: 'RELEASING_STOCK',
      cancellationReason: 'PAYMENT_DECLINED',
    });
    for (const id of ids.slice(2)) expect(await order(id)).toMatchObject({ sagaStep: 'AUTHORIZING_PAYMENT' });
    expect(await sent(ids[0]!)).toEqual([
      'order.created',
      'stock.reserve',
      'payment.authorize',
      'payment.capture',
      'stock.commit',
      'order.confirmed',
    ]);
    expect(await sent(ids[2]!)).toEqual(['order.created', 'stock.reserve', 'payment.authorize']);
    const history = await prisma.sagaTransition.findMany({
      where: { orderId: ids[0]! },
      orderBy: { id: 'asc' },
    });
    expect(history.map((t) => t.toStep)).toEqual(['AUTHORIZING_PAYMENT', 'CAPTURING_PAYMENT', 'DONE']);
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
    expect(await saga.sweep(database)).toBeGreaterThanOrEqual(1);
    expect(await order(id)).toMatchObject({
      sagaStep: 'VOIDING_PAYMENT',
      cancellationReason: 'TIMEOUT',
      stepAttempts: 1,
    });

    const firstWait = (await order(id)).stepDeadline!.getTime() - Date.now();
    await overdue(id);
    await saga.sweep(database);
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
    await Promise.all([saga.sweep(database), saga.sweep(database), saga.sweep(database)]);
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
    await deliverAll([deleted]);
    expect(await order(pending)).toMatchObject({
      sagaStep: 'VOIDING_PAYMENT',
      cancellationReason: 'USER_DELETED',
    });
    expect(await order(confirmed)).toMatchObject({ status: 'CONFIRMED' });
  });

  it('carries the trace of the request that placed the order into messages sent on a timeout', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const id = await placeOrder(randomUUID(), traceparent);
    await overdue(id);
    await saga.sweep(database);
    const release = await prisma.outboxMessage.findFirstOrThrow({
      where: { key: id, type: 'stock.release' },
    });
    expect((release.payload as { traceparent: string }).traceparent).toBe(traceparent);
  });
});
