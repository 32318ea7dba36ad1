// 3. Event path: from the commit of a transaction that wrote a message to the
//    outbox until the consumer's handler runs, at a fixed 500 events/s. This
//    process plays the emitting service (one transaction per event, each writing
//    one outbox row, and the OutboxRelay publishing them as a service runs it);
//    bench/event-consumer.ts plays the receiving one (IdempotentConsumer, its own
//    database). Both clocks are this machine's wall clock.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { buildMessage, DEAD_LETTER_TOPIC, topicNames } from '@shop/contracts';
import {
  createKafka,
  createLogger,
  createProducer,
  Database,
  enqueue,
  ensureTopics,
  MESSAGING_SCHEMA_SQL,
  OutboxRelay,
  type Sql,
} from '@shop/platform';
import { createTestDatabase, infra, repoRoot } from '@shop/testkit';
import { deleteTopics } from './lib/kafka.js';
import { type Latencies, latencies } from './lib/stats.js';

export interface EventsOptions {
  prefix: string;
  /** Offered rates, one run each: the target's 500/s first, then lower ones to see the path unsaturated. */
  rates: number[];
  seconds: number;
  warmupSeconds: number;
  /** The consumer's batchSize, one full run of the rates each: 1 (a transaction per message) is the baseline. */
  batchSizes: number[];
  say: (line: string) => void;
}

export interface EventRun {
  /** The consumer's batchSize (1: a transaction per message). */
  batchSize: number;
  offeredPerSecond: number;
  committed: number;
  /** The rate the emitter managed to commit at (below the offered rate when it could not keep up). */
  emittedPerSecond: number;
  handled: number;
  /** Commit to handler, in ms. */
  latency: Latencies;
  /** Enqueue transaction, from its scheduled start (waiting for a connection included) to COMMIT returned, in ms. */
  commitLatency: Latencies;
}

export interface EventsReport {
  setup: Record<string, unknown>;
  runs: EventRun[];
}

const PARTITIONS = 6;

export async function eventsBenchmark(options: EventsOptions): Promise<EventsReport> {
  const { say, prefix } = options;
  const logger = createLogger({ name: 'bench-events', level: 'warn' });
  const kafka = createKafka({ brokers: infra().kafkaBrokers, clientId: 'bench-events', logger });
  const emitterDb = await createTestDatabase('bench_emitter', [MESSAGING_SCHEMA_SQL]);
  const consumerDb = await createTestDatabase('bench_consumer', [
    MESSAGING_SCHEMA_SQL,
    'CREATE TABLE effects (message_id UUID PRIMARY KEY, at TIMESTAMPTZ(3) NOT NULL DEFAULT now())',
  ]);
  await ensureTopics(
    kafka,
    [...topicNames, DEAD_LETTER_TOPIC].map((topic) => prefix + topic),
    { partitions: PARTITIONS, replicationFactor: 1 },
  );
  const database = new Database({ url: emitterDb.url, poolSize: 8 });
  const runInTransaction = <R>(work: (tx: Sql) => Promise<R>) => database.transaction(work);
  const producer = await createProducer(kafka);
  const relay = new OutboxRelay({ database, producer, logger, topicPrefix: prefix });
  const handled = new Map<string, number>();
  /** The consuming process, with the consumer's batchSize; resolves once its group is joined. */
  const startConsumer = async (batchSize: number) => {
    const child = fork(join(repoRoot, 'bench/event-consumer.ts'), {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: {
        ...process.env,
        DATABASE_URL: consumerDb.url,
        KAFKA_BROKERS: infra().kafkaBrokers.join(','),
        TOPIC_PREFIX: prefix,
        BATCH_SIZE: String(batchSize),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const stop = async () => {
      child.send({ stop: true });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        child.on('message', (message: { ready?: boolean; handled?: [string, number][] }) => {
          if (message.ready) resolve();
          for (const [id, at] of message.handled ?? []) handled.set(id, at);
        });
        child.on('exit', (code) => reject(new Error(`the consumer exited (${code}) before it was ready`)));
      });
    } catch (error) {
      await stop();
      throw error;
    }
    return stop;
  };
  let stopConsumer: (() => Promise<void>) | undefined;
  try {
    relay.start();
    const measure = async (rate: number, batchSize: number): Promise<EventRun> => {
      say(
        `events: ${rate} events/s, consumer batch ${batchSize}, ${options.warmupSeconds} s warm-up then ${options.seconds} s`,
      );

      const committedAt = new Map<string, number>();
      const commitTimes: number[] = [];
      const total = Math.round(rate * (options.warmupSeconds + options.seconds));
      const warmup = Math.round(rate * options.warmupSeconds);
      const measured: string[] = [];
      let firstCommit = Number.POSITIVE_INFINITY;
      let lastCommit = 0;
      const inFlight: Promise<void>[] = [];
      const emit = async (i: number) => {
        // 5,000 keys, as many orders in flight: each key's order is kept, the keys spread over the partitions.
        const message = buildMessage(
          'stock.released',
          `00000000-0000-4000-8000-${String(i % 5000).padStart(12, '0')}`,
          { orderId: randomUUID() },
          { source: 'bench' },
        );
        const begun = performance.now();
        await runInTransaction((tx) => enqueue(tx, message));
        const now = performance.now();
        if (i >= warmup) {
          firstCommit = Math.min(firstCommit, now);
          lastCommit = Math.max(lastCommit, now);
          committedAt.set(message.id, performance.timeOrigin + now);
          commitTimes.push(now - begun);
          measured.push(message.id);
        }
      };
      const start = performance.now();
      let next = 0;
      while (next < total) {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
        while (next < due) inFlight.push(emit(next++));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(inFlight);
      // Until the consumer has caught up (the next rate starts from an empty backlog), within reason.
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && measured.some((id) => !handled.has(id))) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const samples = measured.flatMap((id) => {
        const at = handled.get(id);
        return at === undefined ? [] : [at - committedAt.get(id)!];
      });
      return {
        batchSize,
        offeredPerSecond: rate,
        committed: measured.length,
        emittedPerSecond: measured.length / ((lastCommit - firstCommit) / 1000),
        handled: samples.length,
        latency: latencies(samples),
        commitLatency: latencies(commitTimes),
      };
    };
    const runs: EventRun[] = [];
    for (const batchSize of options.batchSizes) {
      stopConsumer = await startConsumer(batchSize);
      for (const rate of options.rates) {
        const run = await measure(rate, batchSize);
        runs.push(run);
        say(
          `events: ${rate}/s offered, batch ${batchSize}, ${Math.round(run.emittedPerSecond)}/s committed, commit → handler p50 ${Math.round(run.latency.p50)} ms, p99 ${Math.round(run.latency.p99)} ms`,
        );
      }
      await stopConsumer();
      stopConsumer = undefined;
    }
    return {
      setup: {
        emitter:
          'this process: a pg pool of 8, one transaction per event writing one outbox row (platform enqueue), OutboxRelay (NOTIFY wake-up, batches of up to 500, acks=-1, marked published without waiting for the WAL flush, idempotent producer)',
        consumer:
          "a child process: IdempotentConsumer (a chunk's processed_messages rows in one statement, then one INSERT of the chunk's rows, pg pool of 6, 3 partitions at a time), with batchSize 1 (a transaction per message, the baseline) and then in batches (a transaction per chunk of a fetch); the group resumes where the previous run stopped",
        topic: `inventory.replies, ${PARTITIONS} partitions, 5,000 keys`,
        measured: 'handler entry (wall clock, child) minus COMMIT returned (wall clock, emitter)',
        warmupSeconds: options.warmupSeconds,
        seconds: options.seconds,
      },
      runs,
    };
  } finally {
    await stopConsumer?.();
    await relay.stop().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await database.close().catch(() => undefined);
    await emitterDb.drop().catch(() => undefined);
    await consumerDb.drop().catch(() => undefined);
    await deleteTopics(prefix);
  }
}
