// The saga's stock commands against a real database, and end to end over Kafka.
import { randomUUID } from 'node:crypto';
import { buildMessage, DEAD_LETTER_TOPIC, type Message, type MessageData, topicNames } from '@shop/contracts';
import type { Database } from '@shop/platform';
import { createProducer, createRegistry, ensureTopics, Readiness, startMessaging } from '@shop/platform';
import {
  collect,
  createServiceDatabase,
  kafkaEnvFor,
  type TestDatabase,
  testKafka,
  testLogger,
  uniquePrefix,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { handleStockCommands, stockHandling } from '../src/stock.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createServiceDatabase('inventory');
  ({ database, prisma } = createDatabase(db.url, 20));
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

async function newProduct(onHand: number): Promise<string> {
  const product = await prisma.product.create({
    data: { sku: `SKU-${randomUUID()}`, name: 'Widget', priceCents: 500, currency: 'EUR', onHand },
  });
  return product.id;
}

const stockOf = async (id: string) => {
  const { onHand, reserved } = await prisma.product.findUniqueOrThrow({ where: { id } });
  return { onHand, reserved };
};
const repliesFor = async (orderId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: orderId }, orderBy: { id: 'asc' } })).map(
    (m) => m.type,
  );
type Command = { [T in 'stock.reserve' | 'stock.release' | 'stock.commit']: [T, MessageData<T>] }[
  | 'stock.reserve'
  | 'stock.release'
  | 'stock.commit'];
const message = ([type, data]: Command): Message =>
  buildMessage(type, data.orderId, data as never, { source: 'test' });
/** Commands handled as the consumer hands them over: one chunk, one transaction. */
const chunk = (...commands: Command[]) =>
  database.transaction((tx) => handleStockCommands(commands.map(message), { tx, traceparent: () => null }));
const reserveStock = (data: MessageData<'stock.reserve'>) => chunk(['stock.reserve', data]);
const releaseStock = (data: MessageData<'stock.release'>) => chunk(['stock.release', data]);
const commitStock = (data: MessageData<'stock.commit'>) => chunk(['stock.commit', data]);

describe('stock commands', () => {
  it('reserves all lines of an order or none of them', async () => {
    const plenty = await newProduct(10);
    const scarce = await newProduct(1);
    const order = randomUUID();
    await reserveStock({
      orderId: order,
      items: [
        { productId: plenty, quantity: 3 },
        { productId: scarce, quantity: 2 },
      ],
    });
    expect(await stockOf(plenty)).toEqual({ onHand: 10, reserved: 0 });
    expect(await stockOf(scarce)).toEqual({ onHand: 1, reserved: 0 });
    expect(await repliesFor(order)).toEqual(['stock.reservation-failed']);
    const failure = await prisma.outboxMessage.findFirstOrThrow({ where: { key: order } });
    expect(failure.payload).toMatchObject({ data: { reason: 'OUT_OF_STOCK', productIds: [scarce] } });
  });

  it('never oversells, whatever the concurrency: 50 orders race for the last 10 units', async () => {
    const product = await newProduct(10);
    const orders = Array.from({ length: 50 }, () => randomUUID());
    await Promise.all(
      orders.map((orderId) => reserveStock({ orderId, items: [{ productId: product, quantity: 1 }] })),
    );
    expect(await stockOf(product)).toEqual({ onHand: 10, reserved: 10 });
    const outcomes = await Promise.all(orders.map(repliesFor));
    expect(outcomes.filter(([type]) => type === 'stock.reserved')).toHaveLength(10);
    expect(outcomes.filter(([type]) => type === 'stock.reservation-failed')).toHaveLength(40);
  });

  it('releases and commits idempotently, and keeps a released order from reserving later', async () => {
    const product = await newProduct(5);
    const kept = randomUUID();
    const dropped = randomUUID();
    const items = [{ productId: product, quantity: 2 }];
    await reserveStock({ orderId: kept, items });
    await reserveStock({ orderId: dropped, items });
    expect(await stockOf(product)).toEqual({ onHand: 5, reserved: 4 });

    await commitStock({ orderId: kept });
    await commitStock({ orderId: kept });
    await releaseStock({ orderId: dropped });
    await releaseStock({ orderId: dropped });
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });

    await reserveStock({ orderId: dropped, items });
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });

    const early = randomUUID();
    await releaseStock({ orderId: early });
    await reserveStock({ orderId: early, items });
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });
    await expect(releaseStock({ orderId: kept })).rejects.toThrow(/committed/);
  });

  it('decides a chunk of many orders in one transaction exactly as one at a time', async () => {
    const [a, b] = [await newProduct(3), await newProduct(100)];
    const orders = Array.from({ length: 6 }, () => randomUUID());
    await chunk(
      ...orders.map(
        (orderId): Command => [
          'stock.reserve',
          {
            orderId,
            items: [
              { productId: a, quantity: 1 },
              { productId: b, quantity: 2 },
            ],
          },
        ],
      ),
      ['stock.commit', { orderId: orders[0]! }],
      ['stock.release', { orderId: orders[1]! }],
    );
    // Three fit: the first is committed, the second released, the third still reserved.
    expect(await stockOf(a)).toEqual({ onHand: 2, reserved: 1 });
    expect(await stockOf(b)).toEqual({ onHand: 98, reserved: 2 });
    const replies = await Promise.all(orders.map(repliesFor));
    expect(replies).toEqual([
      ['stock.reserved', 'stock.committed'],
      ['stock.reserved', 'stock.released'],
      ['stock.reserved'],
      ['stock.reservation-failed'],
      ['stock.reservation-failed'],
      ['stock.reservation-failed'],
    ]);
  });

  it('never deadlocks: concurrent chunks whose orders name shared products in opposite orders', async () => {
    const products = [await newProduct(1000), await newProduct(1000), await newProduct(1000)];
    const reversed = [...products].reverse();
    const chunkOf = (order: string[]) =>
      Array.from(
        { length: 10 },
        (): Command => [
          'stock.reserve',
          { orderId: randomUUID(), items: order.map((productId) => ({ productId, quantity: 1 })) },
        ],
      );
    // Without one lock order for the whole chunk, these would deadlock (40P01) and be retried one by one.
    await Promise.all(Array.from({ length: 8 }, (_, i) => chunk(...chunkOf(i % 2 ? products : reversed))));
    for (const product of products) expect(await stockOf(product)).toEqual({ onHand: 1000, reserved: 80 });
  });
});

describe('over Kafka', () => {
  it('answers reserve commands on inventory.replies through the outbox', async () => {
    const kafka = testKafka('inventory-test');
    const prefix = uniquePrefix('inventory');
    const readiness = new Readiness();
    await prisma.outboxMessage.deleteMany(); // replies of the tests above were never relayed
    const messaging = await startMessaging({
      service: 'inventory',
      kafka: kafkaEnvFor(prefix),
      database,
      logger: testLogger(),
      metrics: createRegistry('inventory'),
      readiness,
      consumers: [{ groupId: `${prefix}inventory`, topics: ['inventory.commands'], handling: stockHandling }],
    });
    try {
      const product = await newProduct(1);
      const [first, second] = [randomUUID(), randomUUID()];
      const producer = await createProducer(kafka);
      await ensureTopics(
        kafka,
        [...topicNames, DEAD_LETTER_TOPIC].map((t) => prefix + t),
        { partitions: 3, replicationFactor: 1 },
      );
      for (const orderId of [first, second]) {
        const command = buildMessage(
          'stock.reserve',
          orderId,
          { orderId, items: [{ productId: product, quantity: 1 }] },
          { source: 'test' },
        );
        await producer.send({
          topic: `${prefix}inventory.commands`,
          messages: [{ key: orderId, value: JSON.stringify(command) }],
        });
      }
      const replies = await collect(kafka, `${prefix}inventory.replies`, (m) =>
        [first, second].every((orderId) => m.some((x) => x.key === orderId)),
      );
      const typeFor = (orderId: string) =>
        JSON.parse(replies.find((m) => m.key === orderId)?.value ?? '{}').type;
      expect([typeFor(first), typeFor(second)].sort()).toEqual([
        'stock.reservation-failed',
        'stock.reserved',
      ]);
      const report = await readiness.report();
      expect(report.checks[`consumer:${prefix}inventory`]?.status).toBe('up');
      await producer.disconnect();
    } finally {
      for (const step of messaging.stopSteps) await step.stop();
    }
  });
});
