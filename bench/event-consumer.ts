// The consuming side of the event-path benchmark, in a process of its own as a
// service would be: an IdempotentConsumer over its own database, whose handler
// notes the wall-clock time it was called and writes one row per message, in one
// statement per chunk (set-based, as the services' handlers are). Times go back
// to the parent over IPC, in batches.
import { DEAD_LETTER_TOPIC } from '@shop/contracts';
import { createKafka, createLogger, createProducer, Database, IdempotentConsumer } from '@shop/platform';

const { DATABASE_URL, KAFKA_BROKERS, TOPIC_PREFIX, BATCH_SIZE = '1' } = process.env;
if (!DATABASE_URL || !KAFKA_BROKERS || TOPIC_PREFIX === undefined || !process.send) {
  throw new Error('run by bench/events.ts: DATABASE_URL, KAFKA_BROKERS, TOPIC_PREFIX and an IPC channel');
}
const send = process.send.bind(process);
const logger = createLogger({ name: 'bench-consumer', level: 'warn' });
const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'bench-consumer', logger });
const database = new Database({ url: DATABASE_URL, poolSize: 6 });
const producer = await createProducer(kafka);

let batch: [string, number][] = [];
const flush = setInterval(() => {
  if (batch.length === 0) return;
  send({ handled: batch });
  batch = [];
}, 100);

const consumer = new IdempotentConsumer({
  kafka,
  groupId: 'bench-event-path',
  topics: ['inventory.replies'],
  topicPrefix: TOPIC_PREFIX,
  producer,
  logger,
  database,
  batchSize: Number(BATCH_SIZE),
  handling: {
    types: ['stock.released'],
    async handle(messages, { tx }) {
      const at = performance.timeOrigin + performance.now();
      for (const message of messages) batch.push([message.id, at]);
      await tx.query('INSERT INTO effects (message_id) SELECT unnest($1::uuid[])', [
        messages.map((m) => m.id),
      ]);
    },
  },
});
await consumer.start();
// Ready once the group is joined (partitions assigned), as a service's readiness probe says.
for (;;) {
  try {
    await consumer.check();
    break;
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
send({ ready: true, deadLetterTopic: TOPIC_PREFIX + DEAD_LETTER_TOPIC });

process.on('message', async (message: { stop?: boolean }) => {
  if (!message.stop) return;
  clearInterval(flush);
  if (batch.length > 0) send({ handled: batch });
  await consumer.stop();
  await producer.disconnect();
  await database.close();
  process.disconnect();
});
