// End to end over the real Kafka: events produced on the topics become
// notifications through the platform's idempotent consumer; a duplicate has
// one effect, order.created is ignored, and a malformed message is
// dead-lettered without holding up the events behind it.
import { randomUUID } from 'node:crypto';
import {
  buildMessage,
  DEAD_LETTER_TOPIC,
  type MessageData,
  type MessageType,
  topicOf,
} from '@shop/contracts';
import type { Database } from '@shop/platform';
import { createProducer, createRegistry, Readiness, startMessaging } from '@shop/platform';
import {
  asGateway,
  collect,
  createServiceDatabase,
  eventually,
  kafkaEnvFor,
  TEST_SERVICE_SECRET,
  type TestDatabase,
  testKafka,
  testLogger,
  uniquePrefix,
} from '@shop/testkit';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { logMailer, Notifier } from '../src/notify.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createServiceDatabase('notifications');
  ({ database, prisma } = createDatabase(db.url, 6));
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

describe('over Kafka', () => {
  it('turns user and order events into notifications, once each, past a malformed message', async () => {
    const kafka = testKafka('notifications-test');
    const prefix = uniquePrefix('notifications');
    const metrics = createRegistry('notifications');
    const readiness = new Readiness();
    const group = `${prefix}notifications`;
    const log = testLogger();
    const notifier = new Notifier({
      from: 'shop <no-reply@shop.example>',
      database,
      mailer: logMailer(log),
      logger: log,
    });
    const messaging = await startMessaging({
      service: 'notifications',
      kafka: kafkaEnvFor(prefix),
      database,
      logger: log,
      metrics,
      readiness,
      consumers: [notifier.consumer(group)],
    });
    let producer: Producer | undefined;
    try {
      producer = await createProducer(kafka);
      const send = async (topic: string, key: string, value: string) => {
        await producer?.send({ topic: prefix + topic, messages: [{ key, value }] });
      };
      const publish = async <T extends MessageType>(
        type: T,
        key: string,
        data: MessageData<T>,
        id?: string,
      ) => {
        const message = buildMessage(type, key, data, { source: 'test', ...(id ? { id } : {}) });
        await send(topicOf(type), key, JSON.stringify(message));
        return message;
      };

      const userId = randomUUID();
      const [confirmedOrder, cancelledOrder] = [randomUUID(), randomUUID()];
      // On the user's partition, a malformed message comes first: the registration behind it must still arrive.
      await send('users.events', userId, '{"this is": not json');
      await publish('user.registered', userId, {
        userId,
        email: 'ada@example.com',
        name: 'Ada',
        role: 'customer',
      });
      const created = await publish('order.created', confirmedOrder, {
        orderId: confirmedOrder,
        userId,
        items: [{ productId: randomUUID(), quantity: 1, unitPriceCents: 1299 }],
        totalCents: 1299,
        currency: 'EUR',
      });
      const confirmed = await publish('order.confirmed', confirmedOrder, {
        orderId: confirmedOrder,
        userId,
        totalCents: 1299,
        currency: 'EUR',
      });
      // The same message again, as a producer retry or a relay crash would deliver it.
      await send(topicOf('order.confirmed'), confirmedOrder, JSON.stringify(confirmed));
      await publish('order.cancelled', cancelledOrder, {
        orderId: cancelledOrder,
        userId,
        reason: 'TIMEOUT',
      });

      const notifications = await eventually(
        async () => {
          const rows = await prisma.notification.findMany({ where: { userId }, orderBy: { type: 'asc' } });
          return rows.length >= 3 ? rows : undefined;
        },
        { timeoutMs: 45_000, what: 'three notifications' },
      );
      expect(notifications.map((n) => [n.type, n.orderId])).toEqual([
        ['order.cancelled', cancelledOrder],
        ['order.confirmed', confirmedOrder],
        ['user.registered', null],
      ]);
      expect(notifications.find((n) => n.type === 'order.confirmed')?.body).toContain('Total: €12.99');

      // The consumer saw the duplicate and order.created, and neither left a trace.
      const outcomes = async () =>
        ((await metrics.getSingleMetric('consumer_messages_total')?.get())?.values ?? []).map(
          (v) => `${v.labels.type}:${v.labels.outcome}=${v.value}`,
        );
      // The consumer counts a message once its commit has returned, so a notification row can be
      // visible here a moment before its count: wait for the counts too.
      const expected = [
        'order.confirmed:duplicate=1',
        'order.created:ignored=1',
        ...['user.registered', 'order.confirmed', 'order.cancelled'].map((type) => `${type}:handled=1`),
      ];
      await eventually(
        async () => {
          const seen = await outcomes();
          return expected.every((o) => seen.includes(o)) ? true : undefined;
        },
        { timeoutMs: 15_000, what: 'every message counted, the duplicate and order.created included' },
      );
      // Exact for what had an effect; a rebalance may redeliver, which only adds duplicates.
      const seen = await outcomes();
      for (const type of ['user.registered', 'order.confirmed', 'order.cancelled']) {
        expect(seen).toContain(`${type}:handled=1`);
      }
      expect(seen.filter((o) => o.startsWith('order.created:'))).toEqual(['order.created:ignored=1']);
      expect(seen.filter((o) => o.includes(':dead-lettered='))).toEqual(['unknown:dead-lettered=1']);
      expect(await prisma.notification.count({ where: { userId } })).toBe(3);
      expect(await prisma.notification.count({ where: { sourceMessageId: created.id } })).toBe(0);

      // The malformed message is in this run's dead-letter topic, with the reason.
      const dead = await collect(kafka, prefix + DEAD_LETTER_TOPIC, (m) => m.some((x) => x.key === userId));
      const letter = dead.find((m) => m.key === userId);
      expect(letter?.value).toBe('{"this is": not json');
      expect(letter?.headers).toMatchObject({
        'dlq-original-topic': `${prefix}users.events`,
        'dlq-consumer-group': group,
        'dlq-error': 'the message value is not JSON',
        'dlq-attempts': '0',
      });

      // And the user sees them, newest first.
      const app = buildApp({ prisma, logger: testLogger(), serviceTokenSecrets: [TEST_SERVICE_SECRET] });
      try {
        const response = await app.inject({
          method: 'GET',
          url: '/api/v1/notifications',
          headers: await asGateway('notifications', { id: userId, role: 'customer' }),
        });
        expect(response.statusCode).toBe(200);
        const { items } = response.json() as { items: { id: string; createdAt: string }[] };
        expect(items.map((item) => item.id).sort()).toEqual(notifications.map((n) => n.id).sort());
        const times = items.map((item) => item.createdAt);
        expect(times).toEqual([...times].sort().reverse());
      } finally {
        await app.close();
      }
      expect((await readiness.report()).checks[`consumer:${group}`]?.status).toBe('up');
    } finally {
      await producer?.disconnect();
      for (const step of messaging.stopSteps) await step.stop();
    }
  }, 120_000);
});
