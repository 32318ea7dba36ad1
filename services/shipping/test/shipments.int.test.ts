// The shipping commands against a real database (the service's migrations), and over Kafka.
import { randomUUID } from 'node:crypto';
import {
  buildMessage,
  DEAD_LETTER_TOPIC,
  type Message,
  type ShippingAddress,
  topicNames,
} from '@shop/contracts';
import {
  createProducer,
  createRegistry,
  type Database,
  ensureTopics,
  Readiness,
  startMessaging,
} from '@shop/platform';
import {
  asGateway,
  collect,
  createServiceDatabase,
  handleInTransaction,
  kafkaEnvFor,
  TEST_SERVICE_SECRET,
  type TestDatabase,
  testKafka,
  testLogger,
  testUser,
  uniquePrefix,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { shippingHandling } from '../src/shipments.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createServiceDatabase('shipping');
  ({ database, prisma } = createDatabase(db.url, 8));
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

const address: ShippingAddress = {
  name: 'Ada',
  line1: '1 Main St',
  city: 'Lyon',
  postalCode: '69001',
  country: 'FR',
};
const schedule = (orderId: string, to: ShippingAddress = address): Message =>
  buildMessage('shipment.schedule', orderId, { orderId, address: to }, { source: 'orders' });
const cancel = (orderId: string): Message =>
  buildMessage('shipment.cancel', orderId, { orderId }, { source: 'orders' });
const replies = async (orderId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: orderId }, orderBy: { id: 'asc' } })).map((m) => ({
    type: m.type,
    data: (m.payload as { data: Record<string, unknown> }).data,
  }));

describe('shipping commands', () => {
  it('schedules a chunk of orders in one transaction, refuses Antarctica, and cancels', async () => {
    const [paris, pole, dropped] = [randomUUID(), randomUUID(), randomUUID()];
    await handleInTransaction(database, shippingHandling(), [
      schedule(paris),
      schedule(pole, { ...address, country: 'AQ' }),
      schedule(dropped),
      cancel(dropped),
    ]);
    const [scheduled] = await replies(paris);
    expect(scheduled).toMatchObject({
      type: 'shipment.scheduled',
      data: { orderId: paris, carrier: expect.any(String) },
    });
    expect(await prisma.shipment.findUniqueOrThrow({ where: { orderId: paris } })).toMatchObject({
      status: 'SCHEDULED',
      trackingId: scheduled!.data.trackingId,
      address,
    });
    expect(await replies(pole)).toEqual([
      { type: 'shipment.scheduling-failed', data: { orderId: pole, reason: 'SHIPPING_UNAVAILABLE' } },
    ]);
    expect((await replies(dropped)).map((r) => r.type)).toEqual(['shipment.scheduled', 'shipment.cancelled']);
    expect(await prisma.shipment.findUniqueOrThrow({ where: { orderId: dropped } })).toMatchObject({
      status: 'CANCELLED',
    });
  });

  it('answers repeats from the record: the same tracking id, cancelled again, nothing for a schedule after a cancel', async () => {
    const [kept, early] = [randomUUID(), randomUUID()];
    await handleInTransaction(database, shippingHandling(), [schedule(kept)]);
    await handleInTransaction(database, shippingHandling(), [schedule(kept), cancel(early)]);
    await handleInTransaction(database, shippingHandling(), [schedule(early), cancel(early)]);
    const [first, second] = await replies(kept);
    expect(second).toEqual(first);
    expect((await replies(early)).map((r) => r.type)).toEqual(['shipment.cancelled', 'shipment.cancelled']);
    expect(await prisma.shipment.findUniqueOrThrow({ where: { orderId: early } })).toMatchObject({
      status: 'CANCELLED',
      carrier: null,
    });
  });

  it('shows an admin the shipment of an order, and nobody else', async () => {
    const orderId = randomUUID();
    await handleInTransaction(database, shippingHandling(), [schedule(orderId)]);
    const app = buildApp({ prisma, logger: testLogger(), serviceTokenSecrets: [TEST_SERVICE_SECRET] });
    try {
      const get = async (user: ReturnType<typeof testUser>) =>
        app.inject({
          method: 'GET',
          url: `/api/v1/shipments/${orderId}`,
          headers: await asGateway('shipping', user),
        });
      expect((await get(testUser('admin'))).json()).toMatchObject({ orderId, status: 'SCHEDULED' });
      expect((await get(testUser('customer'))).statusCode).toBe(403);
    } finally {
      await app.close();
    }
  });
});

describe('over Kafka', () => {
  it('answers shipping.commands on shipping.replies through the outbox', async () => {
    const kafka = testKafka('shipping-test');
    const prefix = uniquePrefix('shipping');
    const readiness = new Readiness();
    await prisma.outboxMessage.deleteMany(); // replies of the tests above were never relayed
    const messaging = await startMessaging({
      service: 'shipping',
      kafka: kafkaEnvFor(prefix),
      database,
      logger: testLogger(),
      metrics: createRegistry('shipping'),
      readiness,
      consumers: [
        { groupId: `${prefix}shipping`, topics: ['shipping.commands'], handling: shippingHandling() },
      ],
    });
    const producer = await createProducer(kafka);
    try {
      await ensureTopics(
        kafka,
        [...topicNames, DEAD_LETTER_TOPIC].map((t) => prefix + t),
        {
          partitions: 3,
          replicationFactor: 1,
        },
      );
      const orderId = randomUUID();
      await producer.send({
        topic: `${prefix}shipping.commands`,
        messages: [schedule(orderId), cancel(orderId)].map((m) => ({
          key: orderId,
          value: JSON.stringify(m),
        })),
      });
      const received = await collect(
        kafka,
        `${prefix}shipping.replies`,
        (m) => m.filter((x) => x.key === orderId).length >= 2,
      );
      expect(received.map((m) => JSON.parse(m.value ?? '{}').type)).toEqual([
        'shipment.scheduled',
        'shipment.cancelled',
      ]);
    } finally {
      await producer.disconnect();
      for (const step of messaging.stopSteps) await step.stop();
    }
  });
});
