// End to end over Kafka: commands on payments.commands, replies on
// payments.replies through the outbox, the real provider simulator behind.
import { randomUUID } from 'node:crypto';
import { buildMessage, DEAD_LETTER_TOPIC, type Message, topicNames } from '@shop/contracts';
import type { Database } from '@shop/platform';
import { createProducer, createRegistry, ensureTopics, Readiness, startMessaging } from '@shop/platform';
import {
  collect,
  createServiceDatabase,
  eventually,
  kafkaEnvFor,
  type TestDatabase,
  testKafka,
  testLogger,
  uniquePrefix,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { PaymentOperations } from '../src/operations.js';
import { leaseFor } from '../src/provider/budget.js';
import {
  authorizeCommand,
  closeProviderClients,
  heldFor,
  providerClient,
  type RunningProvider,
  sample,
  startProvider,
} from './harness.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;
let simulator: RunningProvider;

beforeAll(async () => {
  db = await createServiceDatabase('payments');
  ({ database, prisma } = createDatabase(db.url, 10));
  simulator = await startProvider();
});
afterAll(async () => {
  await closeProviderClients();
  await simulator.stop();
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

describe('over Kafka', () => {
  it('answers the saga on payments.replies, and a redelivered capture has no second effect', async () => {
    const kafka = testKafka('payments-test');
    const prefix = uniquePrefix('payments');
    const readiness = new Readiness();
    const metrics = createRegistry('payments');
    const { provider } = providerClient(simulator.url);
    const operations = new PaymentOperations({
      database,
      provider,
      logger: testLogger(),
      metrics,
      leaseMs: leaseFor(1500, 2),
    });
    const messaging = await startMessaging({
      service: 'payments',
      kafka: kafkaEnvFor(prefix),
      database,
      logger: testLogger(),
      metrics,
      readiness,
      consumers: [
        { groupId: `${prefix}payments`, topics: ['payments.commands'], handling: operations.handling },
      ],
    });
    const producer = await createProducer(kafka);
    try {
      await ensureTopics(
        kafka,
        [...topicNames, DEAD_LETTER_TOPIC].map((t) => prefix + t),
        { partitions: 3, replicationFactor: 1 },
      );
      const paid = authorizeCommand();
      const declined = authorizeCommand({ token: 'tok_decline' });
      const abandoned = randomUUID();
      const capture = buildMessage(
        'payment.capture',
        paid.orderId,
        { orderId: paid.orderId },
        { source: 'test' },
      );
      const send = (commands: Message[]) =>
        producer.send({
          topic: `${prefix}payments.commands`,
          messages: commands.map((command) => ({ key: command.key, value: JSON.stringify(command) })),
        });
      await send([
        buildMessage('payment.authorize', paid.orderId, paid, { source: 'test' }),
        buildMessage('payment.authorize', declined.orderId, declined, { source: 'test' }),
        buildMessage('payment.void', abandoned, { orderId: abandoned }, { source: 'test' }),
      ]);
      // As the saga does: the capture only once the authorization was answered.
      await collect(kafka, `${prefix}payments.replies`, (received) =>
        received.some((m) => m.key === paid.orderId),
      );
      await send([capture, capture]); // Kafka's at-least-once: the same message again
      const captured = (received: { key: string | null; value: string | null }[]) =>
        received.some((m) => m.key === paid.orderId && m.value?.includes('payment.captured'));
      await collect(kafka, `${prefix}payments.replies`, captured);
      // A capture the saga sends again later is answered from the record.
      await send([
        buildMessage('payment.capture', paid.orderId, { orderId: paid.orderId }, { source: 'test' }),
      ]);

      const replies = await collect(kafka, `${prefix}payments.replies`, (received) => received.length >= 5);
      const byOrder = (orderId: string) =>
        replies
          .filter((m) => m.key === orderId)
          .map((m) => JSON.parse(m.value ?? '{}') as { type: string; data: Record<string, unknown> });
      expect(byOrder(paid.orderId).map((m) => m.type)).toEqual([
        'payment.authorized',
        'payment.captured',
        'payment.captured',
      ]);
      expect(byOrder(declined.orderId)).toMatchObject([
        { type: 'payment.authorization-failed', data: { reason: 'DECLINED' } },
      ]);
      expect(byOrder(abandoned).map((m) => m.type)).toEqual(['payment.voided']);

      // Five replies for six commands: the duplicate was dropped, and the provider charged once.
      await eventually(() =>
        sample(metrics, 'consumer_messages_total', { type: 'payment.capture', outcome: 'duplicate' }),
      );
      expect(
        await sample(metrics, 'consumer_messages_total', { type: 'payment.capture', outcome: 'handled' }),
      ).toBe(2);
      const held = heldFor(simulator.ledger, paid.orderId);
      expect(held).toMatchObject([{ status: 'captured', captures: 1 }]);
      expect(await prisma.outboxMessage.count()).toBe(5);
      const report = await readiness.report();
      expect(report.checks[`consumer:${prefix}payments`]?.status).toBe('up');
    } finally {
      await producer.disconnect();
      for (const step of messaging.stopSteps) await step.stop();
      await operations.stop();
    }
  });
});
