// The saga's stock commands against a real database, and end to end over Kafka.
import { randomUUID } from 'node:crypto';
import { buildMessage, DEAD_LETTER_TOPIC, topicNames } from '@shop/contracts';
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
import { createPrisma, type PrismaClient, type Transaction } from '../src/db.js';
import { commitStock, releaseStock, reserveStock, stockHandlers } from '../src/stock.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createServiceDatabase('inventory');
  prisma = createPrisma(db.url, 20);
});
afterAll(async () => {
  await prisma.$disconnect();
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
// 50 transactions queue on one product's row lock here; waiting for a pooled connection is
// part of the race, not a failure, so the wait is bounded by the test, not Prisma's 2 s default.
const inTx = <R>(work: (tx: Transaction) => Promise<R>) => prisma.$transaction(work, { maxWait: 30_000 });

describe('stock commands', () => {
  it('reserves all lines of an order or none of them', async () => {
    const plenty = await newProduct(10);
    const scarce = await newProduct(1);
    const order = randomUUID();
    await inTx((tx) =>
      reserveStock(tx, {
        orderId: order,
        items: [
          { productId: plenty, quantity: 3 },
          { productId: scarce, quantity: 2 },
        ],
      }),
    );
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
      orders.map((orderId) =>
        inTx((tx) => reserveStock(tx, { orderId, items: [{ productId: product, quantity: 1 }] })),
      ),
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
    await inTx((tx) => reserveStock(tx, { orderId: kept, items }));
    await inTx((tx) => reserveStock(tx, { orderId: dropped, items }));
    expect(await stockOf(product)).toEqual({ onHand: 5, reserved: 4 });

    await inTx((tx) => commitStock(tx, { orderId: kept }));
    await inTx((tx) => commitStock(tx, { orderId: kept }));
    await inTx((tx) => releaseStock(tx, { orderId: dropped }));
    await inTx((tx) => releaseStock(tx, { orderId: dropped }));
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });

    await inTx((tx) => reserveStock(tx, { orderId: dropped, items }));
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });

    const early = randomUUID();
    await inTx((tx) => releaseStock(tx, { orderId: early }));
    await inTx((tx) => reserveStock(tx, { orderId: early, items }));
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });
    await expect(inTx((tx) => releaseStock(tx, { orderId: kept }))).rejects.toThrow(/committed/);
  });
});

describe('over Kafka', () => {
  it('answers reserve commands on inventory.replies through the outbox', async () => {
    const kafka = testKafka('inventory-test');
    const prefix = uniquePrefix('inventory');
    const readiness = new Readiness();
    await prisma.outboxMessage.deleteMany(); // replies of the tests above were never relayed
    const messaging = await startMessaging<Transaction>({
      service: 'inventory',
      kafka: kafkaEnvFor(prefix),
      databaseUrl: db.url,
      logger: testLogger(),
      metrics: createRegistry('inventory'),
      readiness,
      runInTransaction: (work) => prisma.$transaction(work),
      consumers: [{ groupId: `${prefix}inventory`, topics: ['inventory.commands'], handlers: stockHandlers }],
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
