// The idempotent consumer. Each message is handled in one database transaction
// together with a row in `processed_messages`, so a redelivered message (Kafka
// gives at-least-once) finds its row and has no second effect. A handler that
// fails is retried with backoff; after `maxAttempts` the message goes to the
// dead-letter topic with the error attached and the partition moves on. A
// message that is not valid at all goes there at once. A database or network
// outage is not the message's fault: those are retried for as long as it takes,
// holding the partition, so nothing is dead-lettered because Postgres restarted.
//
// With `batchSize` above 1 the consumer handles what one fetch brought from a
// partition in chunks, each in ONE transaction: one BEGIN and COMMIT (one WAL
// flush), one lock statement and one processed_messages insert for the chunk.
// That is what lets a busy consumer keep up. If anything in the chunk fails, the
// transaction is rolled back whole and the chunk is handled again one message at
// a time, so the retries, the outage handling and the dead letters above apply
// to the one message at fault and nothing else changes. A chunk holds every row
// lock its messages take until it commits, so batching is only for consumers
// whose messages lock only their own aggregate (the partition key); two chunks
// locking shared rows in different orders would deadlock.
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { DEAD_LETTER_TOPIC, type Message, type MessageType, parseMessage, type Topic } from '@shop/contracts';
import type {
  Consumer,
  EachBatchPayload,
  EachMessagePayload,
  IHeaders,
  Kafka,
  KafkaMessage,
  Producer,
} from 'kafkajs';
import type { Registry } from 'prom-client';
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import { consumerSettings } from './kafka.js';
import type { Logger } from './logging.js';
import { Counter, Histogram, metric } from './metrics.js';
import type { SqlTransaction } from './outbox.js';
import { isTransientInfrastructureError } from './retry-policy.js';
import { contextFromTraceparent, tracer } from './tracing.js';

/** Registers what runs once the transaction has committed, and never if it rolls back. */
export type AfterCommit = (effect: () => void) => void;

export interface HandlerContext<Tx> {
  tx: Tx;
  log: Logger;
  /**
   * Runs `effect` once the transaction has committed, and never if it rolls back: for what
   * must not count twice when a handling is retried (metrics, for one).
   */
  afterCommit: AfterCommit;
}

export type MessageHandler<T extends MessageType, Tx> = (
  message: Message<T>,
  context: HandlerContext<Tx>,
) => Promise<void>;

export type MessageHandlers<Tx> = { [T in MessageType]?: MessageHandler<T, Tx> };

export interface IdempotentConsumerOptions<Tx extends SqlTransaction> {
  kafka: Kafka;
  groupId: string;
  topics: readonly Topic[];
  handlers: MessageHandlers<Tx>;
  /** Runs the handler's work in one database transaction (e.g. `(fn) => prisma.$transaction(fn)`). */
  runInTransaction: <R>(work: (tx: Tx) => Promise<R>) => Promise<R>;
  /** Publishes dead letters. */
  producer: Producer;
  logger: Logger;
  metrics?: Registry;
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /** Backoff while the infrastructure is down (no attempt limit). */
  outageBackoff?: BackoffPolicy;
  partitionsConsumedConcurrently?: number;
  /**
   * Up to this many messages of one partition are handled in one transaction (see the top of
   * this file for when that is safe). 1, the default, is a transaction per message.
   */
  batchSize?: number;
  fromBeginning?: boolean;
  /** Prepended to every topic name, the dead-letter topic included. */
  topicPrefix?: string;
}

type Outcome = 'handled' | 'duplicate' | 'ignored' | 'dead-lettered';

export class IdempotentConsumer<Tx extends SqlTransaction> {
  readonly #consumer: Consumer;
  readonly #options: IdempotentConsumerOptions<Tx> & {
    maxAttempts: number;
    backoff: BackoffPolicy;
    outageBackoff: BackoffPolicy;
  };
  readonly #log: Logger;
  readonly #stopController = new AbortController();
  #joined = false;
  #crashed: string | undefined;
  readonly #processed?: Counter;
  readonly #duration?: Histogram;

  constructor(options: IdempotentConsumerOptions<Tx>) {
    this.#options = {
      maxAttempts: 5,
      backoff: { baseMs: 100, capMs: 2000 },
      outageBackoff: { baseMs: 250, capMs: 5000 },
      ...options,
    };
    this.#log = options.logger.child({ component: 'consumer', group: options.groupId });
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      ...consumerSettings,
    });
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => {
      this.#joined = true;
      this.#crashed = undefined;
    });
    this.#consumer.on(this.#consumer.events.CRASH, (event) => {
      this.#joined = false;
      this.#crashed = String(event.payload.error?.message ?? event.payload.error);
    });
    const registry = options.metrics;
    if (registry) {
      this.#processed = metric(
        registry,
        'consumer_messages_total',
        () =>
          new Counter({
            name: 'consumer_messages_total',
            help: 'Messages consumed, by group, type and outcome (handled, duplicate, ignored, dead-lettered).',
            labelNames: ['group', 'type', 'outcome'],
            registers: [registry],
          }),
      );
      this.#duration = metric(
        registry,
        'consumer_handle_duration_seconds',
        () =>
          new Histogram({
            name: 'consumer_handle_duration_seconds',
            help: 'Time to handle one message, retries included (in a batch: the time of its whole batch).',
            labelNames: ['group'],
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
            registers: [registry],
          }),
      );
    }
  }

  async start(): Promise<void> {
    await this.#consumer.connect();
    const prefix = this.#options.topicPrefix ?? '';
    await this.#consumer.subscribe({
      topics: this.#options.topics.map((topic) => prefix + topic),
      fromBeginning: this.#options.fromBeginning ?? true,
    });
    const partitionsConsumedConcurrently = this.#options.partitionsConsumedConcurrently ?? 3;
    if ((this.#options.batchSize ?? 1) > 1) {
      await this.#consumer.run({
        partitionsConsumedConcurrently,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.#consumeBatch(payload),
      });
    } else {
      await this.#consumer.run({
        partitionsConsumedConcurrently,
        eachMessage: (payload) => this.#consume(payload),
      });
    }
  }

  /** Stops after the messages in hand; an outage retry in progress is abandoned and redelivered later. */
  async stop(): Promise<void> {
    this.#stopController.abort(new Error('consumer stopping'));
    await this.#consumer.disconnect();
  }

  get groupId(): string {
    return this.#options.groupId;
  }

  /** For readiness: the consumer has joined its group and not crashed. */
  readonly check = async () => {
    if (this.#crashed) throw new Error(`consumer ${this.#options.groupId} crashed: ${this.#crashed}`);
    if (!this.#joined) throw new Error(`consumer ${this.#options.groupId} has not joined its group yet`);
    return { group: this.#options.groupId };
  };

  async #consume({
    topic,
    partition,
    message,
    heartbeat,
  }: Pick<EachMessagePayload, 'topic' | 'partition' | 'message' | 'heartbeat'>): Promise<void> {
    const stopTimer = this.#duration?.startTimer({ group: this.#options.groupId });
    const parsed = parseMessage(message.value);
    if (!parsed.ok) {
      await this.#deadLetter(topic, partition, message, parsed.reason, 0);
      this.#count(headerText(message.headers, 'message-type') ?? 'unknown', 'dead-lettered');
      stopTimer?.();
      return;
    }
    const envelope = parsed.message;
    const handler = this.#options.handlers[envelope.type] as MessageHandler<MessageType, Tx> | undefined;
    if (!handler) {
      this.#count(envelope.type, 'ignored');
      stopTimer?.();
      return;
    }
    const { span, active } = this.#startSpan(topic, envelope, message);
    try {
      const outcome = await context.with(active, () =>
        this.#handleWithRetries(envelope, handler, topic, partition, message, heartbeat),
      );
      span.setAttribute('shop.outcome', outcome);
      this.#count(envelope.type, outcome);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
      stopTimer?.();
    }
  }

  #startSpan(topic: string, envelope: Message, message: KafkaMessage) {
    const parent = contextFromTraceparent(envelope.traceparent);
    const span = tracer.startSpan(
      `${topic} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.destination.name': topic,
          'messaging.consumer.group.name': this.#options.groupId,
          'messaging.message.id': envelope.id,
          'messaging.kafka.message.key': envelope.key,
          'messaging.kafka.offset': Number(message.offset),
          'shop.message.type': envelope.type,
        },
        // The Kafka client's own span (the delivery) is linked; the parent is the work that sent the message.
        links: [trace.getActiveSpan()?.spanContext()]
          .filter((c) => c !== undefined)
          .map((c) => ({ context: c })),
      },
      parent,
    );
    return { span, active: trace.setSpan(parent, span) };
  }

  /** What one fetch brought from a partition, in chunks of `batchSize`, each chunk in one transaction. */
  async #consumeBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const size = this.#options.batchSize ?? 1;
    for (let start = 0; start < batch.messages.length; start += size) {
      // A rebalance took the partition away, or the consumer is stopping: the rest is redelivered.
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + size);
      await this.#consumeChunk(batch.topic, batch.partition, chunk, heartbeat);
      resolveOffset(chunk.at(-1)!.offset);
      await heartbeat();
    }
  }

  async #consumeChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const one = (message: KafkaMessage) => this.#consume({ topic, partition, message, heartbeat });
    const work: { message: KafkaMessage; envelope: Message; handler: MessageHandler<MessageType, Tx> }[] = [];
    for (const message of messages) {
      const parsed = parseMessage(message.value);
      const handler = parsed.ok
        ? (this.#options.handlers[parsed.message.type] as MessageHandler<MessageType, Tx> | undefined)
        : undefined;
      if (parsed.ok && handler) work.push({ message, envelope: parsed.message, handler });
    }
    if (work.length < 2 || !(await this.#handleTogether(topic, work))) {
      for (const message of messages) await one(message);
      return;
    }
    // The chunk committed; what was left out of it is dead-lettered or ignored, as one at a time would.
    const handled = new Set(work.map((w) => w.message));
    for (const message of messages) if (!handled.has(message)) await one(message);
  }

  /**
   * Handles a chunk's messages in one transaction, in offset order. Returns false, having
   * changed nothing, if any of it failed: the caller then handles them one at a time.
   */
  async #handleTogether(
    topic: string,
    work: { message: KafkaMessage; envelope: Message; handler: MessageHandler<MessageType, Tx> }[],
  ): Promise<boolean> {
    const { groupId } = this.#options;
    const started = performance.now();
    const traced = work.map((w) => ({ ...w, ...this.#startSpan(topic, w.envelope, w.message) }));
    try {
      const effects: (() => void)[] = [];
      const afterCommit = (effect: () => void) => effects.push(effect);
      const outcomes = await this.#options.runInTransaction(async (tx) => {
        // The per-key locks one at a time takes, here in a fixed order so two chunks cannot deadlock,
        // then the processed rows, in one statement.
        const inserted = await tx.$queryRawUnsafe<{ id: string }[]>(
          `WITH locked AS MATERIALIZED (
             SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) AS n
               FROM (SELECT DISTINCT k FROM unnest($1::text[]) AS k ORDER BY k) AS keys)
           INSERT INTO processed_messages (consumer_group, message_id)
           SELECT $2, id FROM locked, unnest($3::uuid[]) AS id
           ON CONFLICT DO NOTHING RETURNING message_id::text AS id`,
          work.map((w) => `${groupId}:${w.envelope.key}`),
          groupId,
          work.map((w) => w.envelope.id),
        );
        const fresh = new Set(inserted.map((row) => row.id));
        const outcomes: Outcome[] = [];
        for (const { envelope, handler, active } of traced) {
          // delete: the same message twice in one chunk (a relay re-sent it) is handled once.
          if (!fresh.delete(envelope.id)) {
            outcomes.push('duplicate');
            continue;
          }
          const log = this.#log.child({ messageId: envelope.id, type: envelope.type, key: envelope.key });
          await context.with(active, () => handler(envelope, { tx, log, afterCommit }));
          outcomes.push('handled');
        }
        return outcomes;
      });
      runEffects(effects, this.#log);
      // Every message of the chunk waited for the whole chunk: that is its handling time.
      const seconds = (performance.now() - started) / 1000;
      traced.forEach(({ envelope, span }, i) => {
        span.setAttribute('shop.outcome', outcomes[i]!);
        span.setAttribute('shop.batch.size', work.length);
        this.#count(envelope.type, outcomes[i]!);
        this.#duration?.observe({ group: groupId }, seconds);
      });
      return true;
    } catch (error) {
      if (this.#stopController.signal.aborted) throw error;
      this.#log.info(
        { err: error, messages: work.length },
        'handling a batch failed; handling its messages one at a time',
      );
      for (const { span } of traced) span.setAttribute('shop.batch.retried_alone', true);
      return false;
    } finally {
      for (const { span } of traced) span.end();
    }
  }

  async #handleWithRetries(
    envelope: Message,
    handler: MessageHandler<MessageType, Tx>,
    topic: string,
    partition: number,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<Outcome> {
    const { groupId, maxAttempts, backoff, outageBackoff } = this.#options;
    const log = this.#log.child({ messageId: envelope.id, type: envelope.type, key: envelope.key });
    let attempts = 0;
    let outages = 0;
    for (;;) {
      // Only the attempt that commits runs its effects.
      const effects: (() => void)[] = [];
      try {
        const outcome = await this.#options.runInTransaction(async (tx) => {
          // One aggregate's messages are handled one at a time in this group, even when a
          // rebalance or a restart briefly hands its partition to a second delivery while
          // the first is still in flight (the second waits here, then finds it processed).
          // One statement: the lock is taken (the CTE runs first) before the row is written.
          const fresh = await tx.$executeRawUnsafe(
            `WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0)))
             INSERT INTO processed_messages (consumer_group, message_id)
             SELECT $2, $3::uuid FROM locked ON CONFLICT DO NOTHING`,
            `${groupId}:${envelope.key}`,
            groupId,
            envelope.id,
          );
          if (fresh === 0) return 'duplicate' as const;
          await handler(envelope, { tx, log, afterCommit: (effect) => effects.push(effect) });
          return 'handled' as const;
        });
        runEffects(effects, log);
        return outcome;
      } catch (error) {
        if (this.#stopController.signal.aborted) throw error;
        if (isTransientInfrastructureError(error)) {
          const delay = fullJitterDelay(Math.min(outages++, 8), outageBackoff);
          log.warn({ err: error, retryInMs: delay }, 'infrastructure unavailable; will retry the message');
          await this.#pause(delay, heartbeat);
          continue;
        }
        attempts++;
        if (attempts >= maxAttempts) {
          log.error(
            { err: error, attempts },
            'handler keeps failing; sending the message to the dead-letter topic',
          );
          await this.#deadLetter(topic, partition, message, describe(error), attempts);
          return 'dead-lettered';
        }
        const delay = fullJitterDelay(attempts - 1, backoff);
        log.warn({ err: error, attempt: attempts, retryInMs: delay }, 'handler failed; retrying');
        await this.#pause(delay, heartbeat);
      }
    }
  }

  async #pause(ms: number, heartbeat: () => Promise<void>): Promise<void> {
    await sleep(ms, this.#stopController.signal);
    // Long outages must not cost the group membership.
    await heartbeat().catch(() => undefined);
  }

  async #deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    error: string,
    attempts: number,
  ) {
    await this.#options.producer.send({
      topic: (this.#options.topicPrefix ?? '') + DEAD_LETTER_TOPIC,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            'dlq-original-topic': topic,
            'dlq-original-partition': String(partition),
            'dlq-original-offset': message.offset,
            'dlq-consumer-group': this.#options.groupId,
            'dlq-error': error.slice(0, 2000),
            'dlq-attempts': String(attempts),
            'dlq-failed-at': new Date().toISOString(),
          },
        },
      ],
    });
    this.#log.warn({ topic, partition, offset: message.offset, error }, 'message dead-lettered');
  }

  #count(type: string, outcome: Outcome): void {
    this.#processed?.inc({ group: this.#options.groupId, type, outcome });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

/** The committed handlings' effects; one that throws is logged, it cannot undo the commit. */
export function runEffects(effects: readonly (() => void)[], log: Logger): void {
  for (const effect of effects) {
    try {
      effect();
    } catch (err) {
      log.warn({ err }, 'an effect after commit failed');
    }
  }
}
