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

/**
 * The settings every consumer group of ours runs with, beside its groupId.
 * - sessionTimeout 30 s: how long the group waits for a member that died without leaving
 *   (kill -9, OOM) before its partitions go to a restarted or surviving member. It must
 *   outlast the slowest single handling, since heartbeats go out between messages: a
 *   payments command may call the provider for up to 25 s (payments config.ts). So the
 *   saga's step deadlines (orders config.ts, 60 s) are set well above it, or a crashed
 *   payments or inventory would cancel every order in flight while its partitions wait
 *   (an e2e crash test saw that with 30 s deadlines).
 * - maxWaitTimeInMs 1 s: how long an idle fetch waits at the broker for data. Stopping a
 *   consumer waits for the fetch in flight, so kafkajs's 5 s default made every graceful
 *   stop of an idle consumer take about 5 s, half of SHUTDOWN_GRACE. A fetch still returns
 *   at once when there is data; idle, it is one more fetch a second.
 */
export const consumerSettings = {
  allowAutoTopicCreation: false,
  sessionTimeout: 30_000,
  heartbeatInterval: 3000,
  maxWaitTimeInMs: 1000,
} satisfies Omit<ConsumerConfig, 'groupId'>;

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
