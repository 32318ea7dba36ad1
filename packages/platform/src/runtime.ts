// The messaging side of a service, wired the same way everywhere: topics
// created, the idempotent producer, the outbox relay, the idempotent consumers,
// their readiness checks, and the order to stop them in.
import { DEAD_LETTER_TOPIC, type Topic, topicNames } from '@shop/contracts';
import type { Producer } from 'kafkajs';
import type { z } from 'zod';
import type { kafkaEnv } from './config.js';
import { IdempotentConsumer, type MessageHandlers } from './consumer.js';
import type { Readiness } from './health.js';
import { createKafka, createProducer, ensureTopics } from './kafka.js';
import type { StopStep } from './lifecycle.js';
import type { Logger } from './logging.js';
import type { Registry } from './metrics.js';
import { OutboxRelay, type SqlTransaction } from './outbox.js';

export interface ConsumerSpec<Tx extends SqlTransaction> {
  groupId: string;
  topics: readonly Topic[];
  handlers: MessageHandlers<Tx>;
  partitionsConsumedConcurrently?: number;
}

export interface MessagingOptions<Tx extends SqlTransaction> {
  service: string;
  kafka: z.infer<typeof kafkaEnv>;
  databaseUrl: string;
  logger: Logger;
  metrics: Registry;
  readiness: Readiness;
  runInTransaction: <R>(work: (tx: Tx) => Promise<R>) => Promise<R>;
  consumers: ConsumerSpec<Tx>[];
}

export interface Messaging {
  producer: Producer;
  relay: OutboxRelay;
  stopSteps: StopStep[];
}

export async function startMessaging<Tx extends SqlTransaction>(
  options: MessagingOptions<Tx>,
): Promise<Messaging> {
  const { kafka: env, logger, metrics, readiness } = options;
  const prefix = env.KAFKA_TOPIC_PREFIX;
  const kafka = createKafka({
    brokers: env.KAFKA_BROKERS,
    clientId: env.KAFKA_CLIENT_ID ?? options.service,
    logger,
  });
  await ensureTopics(
    kafka,
    [...topicNames, DEAD_LETTER_TOPIC].map((topic) => prefix + topic),
    { partitions: env.KAFKA_TOPIC_PARTITIONS, replicationFactor: env.KAFKA_REPLICATION_FACTOR },
  );
  const producer = await createProducer(kafka);
  const relay = new OutboxRelay({
    databaseUrl: options.databaseUrl,
    producer,
    logger,
    metrics,
    topicPrefix: prefix,
  });
  relay.start();
  readiness.add('outbox', async () => ({ pending: await relay.pending() }), { critical: false });

  const consumers = options.consumers.map(
    (spec) =>
      new IdempotentConsumer<Tx>({
        kafka,
        groupId: spec.groupId,
        topics: spec.topics,
        handlers: spec.handlers,
        runInTransaction: options.runInTransaction,
        producer,
        logger,
        metrics,
        topicPrefix: prefix,
        ...(spec.partitionsConsumedConcurrently
          ? { partitionsConsumedConcurrently: spec.partitionsConsumedConcurrently }
          : {}),
      }),
  );
  for (const consumer of consumers) {
    readiness.add(`consumer:${consumer.groupId}`, consumer.check);
    await consumer.start();
  }

  return {
    producer,
    relay,
    stopSteps: [
      ...consumers.map((consumer) => ({ name: `consumer ${consumer.groupId}`, stop: () => consumer.stop() })),
      { name: 'outbox relay', stop: () => relay.stop() },
      { name: 'kafka producer', stop: () => producer.disconnect() },
    ],
  };
}
