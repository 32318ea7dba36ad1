// Kafka helpers for tests: a prefix that gives each test its own topics, and a
// reader that collects what landed on a topic.
import { randomBytes } from 'node:crypto';
import { type IHeaders, Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { infra } from './infra.js';

export function testKafka(clientId = 'test'): Kafka {
  return new Kafka({ brokers: infra().kafkaBrokers, clientId, logLevel: logLevel.NOTHING });
}

export function uniquePrefix(label: string): string {
  return `test.${label}.${randomBytes(4).toString('hex')}.`;
}

export interface ReceivedMessage {
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

function headersToText(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([name, value]) => [
      name,
      String(Array.isArray(value) ? value[0] : value),
    ]),
  );
}

/** Collects every message on a topic from the beginning until `until` holds or the deadline passes. */
export async function collect(
  kafka: Kafka,
  topic: string,
  until: (messages: ReceivedMessage[]) => boolean,
  timeoutMs = 20_000,
): Promise<ReceivedMessage[]> {
  const consumer = kafka.consumer({ groupId: `collector-${randomBytes(4).toString('hex')}` });
  const received: ReceivedMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`timed out after ${timeoutMs} ms with ${received.length} messages on ${topic}`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message, partition }: { message: KafkaMessage; partition: number }) => {
            received.push({
              key: message.key?.toString() ?? null,
              value: message.value?.toString() ?? null,
              headers: headersToText(message.headers),
              partition,
              offset: message.offset,
            });
            if (until(received)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
}

/** The Kafka part of a service's config, pointing at the test broker with the given topic prefix. */
export function kafkaEnvFor(prefix: string) {
  return {
    KAFKA_BROKERS: infra().kafkaBrokers,
    KAFKA_TOPIC_PARTITIONS: 3,
    KAFKA_REPLICATION_FACTOR: 1,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_SESSION_TIMEOUT: 6000,
    KAFKA_HEARTBEAT_INTERVAL: 1000,
    // The defaults, so the services' tests run their messaging as production does.
    CONSUMER_LINGER: 35,
    OUTBOX_LINGER: 0,
  };
}
