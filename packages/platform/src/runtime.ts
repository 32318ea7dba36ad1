// The messaging side of a service, wired the same way everywhere: topics
// created, the idempotent producer, the outbox relay, the idempotent consumers,
// their readiness checks, and the order to stop them in.
import { DEAD_LETTER_TOPIC, type Topic, topicNames } from '@shop/contracts';
import type { Producer } from 'kafkajs';
import type { z } from 'zod';
import { followActiveColor } from './active-color.js';
import { fullJitterDelay, sleep } from './backoff.js';
import type { kafkaEnv } from './config.js';
import { IdempotentConsumer, type MessageHandling } from './consumer.js';
import { ConsumptionGate } from './consumption-gate.js';
import type { Database } from './database.js';
import type { Readiness } from './health.js';
import { createKafka, createProducer, ensureTopics } from './kafka.js';
import type { StopStep } from './lifecycle.js';
import type { Logger } from './logging.js';
import type { Registry } from './metrics.js';
import { OutboxRelay } from './outbox.js';

export interface ConsumerSpec {
  groupId: string;
  topics: readonly Topic[];
  handling: MessageHandling;
  partitionsConsumedConcurrently?: number;
  /** At most this many messages of one partition per transaction (IdempotentConsumerOptions.batchSize). */
  batchSize?: number;
}

export interface MessagingOptions {
  service: string;
  kafka: z.infer<typeof kafkaEnv>;
  database: Database;
  logger: Logger;
  metrics: Registry;
  readiness: Readiness;
  consumers: ConsumerSpec[];
}

export interface Messaging {
  producer: Producer;
  relay: OutboxRelay;
  stopSteps: StopStep[];
}

export async function startMessaging(options: MessagingOptions): Promise<Messaging> {
  const { kafka: env, logger, metrics, readiness, database } = options;
  const prefix = env.KAFKA_TOPIC_PREFIX;
  const kafka = createKafka({
    brokers: env.KAFKA_BROKERS,
    clientId: env.KAFKA_CLIENT_ID ?? options.service,
    logger,
  });
  const whileBrokerStarts = <T>(what: string, work: () => Promise<T>) =>
    retryWhileBrokerStarts(what, work, logger);
  await whileBrokerStarts('creating topics', () =>
    ensureTopics(
      kafka,
      [...topicNames, DEAD_LETTER_TOPIC].map((topic) => prefix + topic),
      { partitions: env.KAFKA_TOPIC_PARTITIONS, replicationFactor: env.KAFKA_REPLICATION_FACTOR },
    ),
  );
  const producer = await whileBrokerStarts('connecting the producer', () => createProducer(kafka));
  const relay = new OutboxRelay({
    database,
    producer,
    logger,
    metrics,
    topicPrefix: prefix,
    lingerMs: env.OUTBOX_LINGER,
  });
  relay.start();
  readiness.add('outbox', async () => ({ pending: await relay.pending() }), { critical: false });

  const timings = {
    sessionTimeoutMs: env.KAFKA_SESSION_TIMEOUT,
    heartbeatIntervalMs: env.KAFKA_HEARTBEAT_INTERVAL,
  };
  // Under blue-green only the active color's pods consume (consumption-gate.ts); each
  // activation gets new consumers.
  const consumers = new ConsumptionGate({
    groups: options.consumers.map((spec) => ({
      groupId: spec.groupId,
      create: () =>
        new IdempotentConsumer({
          kafka,
          groupId: spec.groupId,
          topics: spec.topics,
          handling: spec.handling,
          database,
          producer,
          logger,
          metrics,
          timings,
          lingerMs: env.CONSUMER_LINGER,
          topicPrefix: prefix,
          ...(spec.partitionsConsumedConcurrently
            ? { partitionsConsumedConcurrently: spec.partitionsConsumedConcurrently }
            : {}),
          ...(spec.batchSize ? { batchSize: spec.batchSize } : {}),
        }),
    })),
    start: (consumer) => whileBrokerStarts(`starting consumer ${consumer.groupId}`, () => consumer.start()),
    logger,
    readiness,
    follow: followActiveColor(env, logger),
  });
  await consumers.start();

  return {
    producer,
    relay,
    stopSteps: [
      { name: 'consumers', stop: () => consumers.stop() },
      { name: 'outbox relay', stop: () => relay.stop() },
      { name: 'kafka producer', stop: () => producer.disconnect() },
    ],
  };
}

/**
 * True for a Kafka fault that passes once the broker has finished starting: kafkajs
 * marks those `retriable`, also when they are the cause of its give-up error.
 */
export function isRetriableKafkaError(error: unknown): boolean {
  const e = error as { retriable?: unknown; name?: unknown; cause?: { retriable?: unknown } } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.retriable === true) return true;
  return e.name === 'KafkaJSNumberOfRetriesExceeded' && e.cause?.retriable === true;
}

/**
 * A just-started broker refuses some requests for a while (no leader yet, "does not
 * host this topic-partition", the group coordinator loading). A service starting
 * beside it waits that out, with backoff, rather than exiting; anything else, or a
 * broker still refusing after the budget, fails the start as before.
 */
export async function retryWhileBrokerStarts<T>(
  what: string,
  work: () => Promise<T>,
  logger: Logger,
  budgetMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isRetriableKafkaError(error) || Date.now() >= deadline) throw error;
      const delay = fullJitterDelay(attempt, { baseMs: 500, capMs: 5_000 });
      logger.warn(
        { err: error, attempt: attempt + 1, delayMs: delay },
        `${what}: the broker is not ready yet; retrying`,
      );
      await sleep(delay);
    }
  }
}
