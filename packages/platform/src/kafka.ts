// Kafka plumbing shared by producers and consumers: a client that logs through
// pino, explicit topic creation at start-up (auto-creation is off on purpose: a
// typo must fail, not create a topic), and the idempotent producer.
import {
  type ConsumerConfig,
  type ITopicConfig,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
} from 'kafkajs';
import type { Logger } from './logging.js';

export type { Kafka, Producer };

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(
  options: { brokers: string[]; clientId: string; logger: Logger } & Partial<KafkaConfig>,
): Kafka {
  const { logger, ...config } = options;
  const log = logger.child({ component: 'kafka' });
  return new Kafka({
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5000 },
    ...config,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: { message, ...extra } }) => {
        log[levels[level] ?? 'info'](extra, message);
      },
  });
}

/** How a consumer group notices a member that is gone (kafkaEnv: KAFKA_SESSION_TIMEOUT, KAFKA_HEARTBEAT_INTERVAL). */
export interface ConsumerTimings {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
}

/** Kafka's floor for a session (the broker's group.min.session.timeout.ms default). */
export const MIN_SESSION_TIMEOUT_MS = 6000;

export const defaultConsumerTimings: ConsumerTimings = { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 };

/**
 * The settings every consumer group of ours runs with, beside its groupId.
 * - sessionTimeout (6 s by default): how long the group waits for a member that died without
 *   leaving (kill -9, OOM) before its partitions go to a restarted or surviving member; kafkajs
 *   has no static membership, so this is the time a crashed consumer's partitions stand still.
 *   It can be this short because no handler blocks: nothing slow runs inside a consumer's
 *   transaction (a payment's provider call runs after commit, from a recorded intent), and the
 *   consumer heartbeats between chunks and while it waits out an outage.
 * - maxWaitTimeInMs 1 s: how long an idle fetch waits at the broker for data. Stopping a
 *   consumer waits for the fetch in flight, so kafkajs's 5 s default made every graceful stop of
 *   an idle consumer take about 5 s. A fetch still returns at once when there is data.
 */
export function consumerSettings(timings: ConsumerTimings = defaultConsumerTimings) {
  return {
    allowAutoTopicCreation: false,
    sessionTimeout: timings.sessionTimeoutMs,
    heartbeatInterval: timings.heartbeatIntervalMs,
    maxWaitTimeInMs: 1000,
  } satisfies Omit<ConsumerConfig, 'groupId'>;
}

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export async function ensureTopics(
  kafka: Kafka,
  topics: readonly string[],
  options: { partitions: number; replicationFactor: number },
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing: ITopicConfig[] = topics
      .filter((topic) => !existing.has(topic))
      .map((topic) => ({
        topic,
        numPartitions: options.partitions,
        replicationFactor: options.replicationFactor,
      }));
    if (missing.length > 0) {
      // Two services starting together may both try; "already exists" is success.
      await admin
        .createTopics({ topics: missing, waitForLeaders: true })
        .catch((error: { type?: string }) => {
          if (error.type !== 'TOPIC_ALREADY_EXISTS') throw error;
        });
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Idempotent: the broker drops a retried batch it already has, so a retry after
 * a lost acknowledgement does not duplicate. One request in flight keeps the
 * order of a partition's batches.
 */
export async function createProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  return producer;
}
