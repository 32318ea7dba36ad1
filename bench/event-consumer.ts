// The consuming side of the event-path benchmark, in a process of its own as a
// service would be: an IdempotentConsumer over its own database, whose handler
// notes the wall-clock time it was called and does a one-row write in the
// message's transaction. Times go back to the parent over IPC, in batches.
import { DEAD_LETTER_TOPIC } from '@shop/contracts';
import { createKafka, createLogger, createProducer, IdempotentConsumer } from '@shop/platform';
import { pgTransactions } from '@shop/testkit';
import pg from 'pg';

const { DATABASE_URL, KAFKA_BROKERS, TOPIC_PREFIX, BATCH_SIZE = '1' } = process.env;
if (!DATABASE_URL || !KAFKA_BROKERS || TOPIC_PREFIX === undefined || !process.send) {
  throw new Error('run by bench/events.ts: DATABASE_URL, KAFKA_BROKERS, TOPIC_PREFIX and an IPC channel');
}
const send = process.send.bind(process);
const logger = createLogger({ name: 'bench-consumer', level: 'warn' });
const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'bench-consumer', logger });
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
pool.on('error', () => undefined);
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
  runInTransaction: pgTransactions(pool),
  batchSize: Number(BATCH_SIZE),
  handlers: {
    'stock.released': async (message, { tx }) => {
      batch.push([message.id, performance.timeOrigin + performance.now()]);
      await tx.$executeRawUnsafe('INSERT INTO effects (message_id) VALUES ($1::uuid)', message.id);
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
  await pool.end();
  process.disconnect();
});
