// The idempotent consumer, batch first. What one fetch brought, from every
// partition it brought something for, is handled in ONE database transaction
// (up to `batchSize` messages; more make several): one BEGIN and COMMIT (one
// WAL flush), one statement that takes the per-key locks and records every
// message in `processed_messages`, and one call of the service's handler with
// all the new messages, so the handler can work set-based (one UPDATE for many
// rows). kafkajs hands each partition to its own eachBatch call; the calls of
// one fetch meet in a Coalescer (coalescer.ts). At moderate rates a fetch
// brings one message from each of several partitions, and one transaction per
// partition made a transaction per message. A redelivered message (Kafka gives
// at-least-once) finds its processed row and has no second effect.
//
// If anything in a transaction fails, it is rolled back whole and each
// partition's messages are handled again one at a time, through the same handler: a
// handler that fails alone is retried with backoff and, after `maxAttempts`, sent
// to the dead-letter topic with the error attached, and the partition moves on.
// A message that is not valid at all goes there at once. A database or network
// outage is not the message's fault: it is retried for as long as it takes,
// holding the partition, so nothing is dead-lettered because Postgres restarted.
//
// A transaction holds every row lock its handler takes until it commits, so
// handlers lock rows shared between keys (products, say) in one deterministic
// order, e.g. one `SELECT ... ORDER BY id FOR UPDATE` for all its messages; then
// two transactions running at once cannot deadlock. Nothing slow runs inside the transaction:
// a remote call goes in `afterCommit`, with a durable record of the intent.
import { type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  DEAD_LETTER_TOPIC,
  isMessageType,
  type Message,
  type MessageType,
  parseMessage,
  type Topic,
} from '@shop/contracts';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import { Coalescer } from './coalescer.js';
import { type Database, type Sql, sqlLiteral } from './database.js';
import { type ConsumerTimings, consumerSettings } from './kafka.js';
import type { Logger } from './logging.js';
import { Counter, Histogram, metric } from './metrics.js';
import { isTransientInfrastructureError } from './retry-policy.js';
import { contextFromTraceparent, currentTraceparent, tracer } from './tracing.js';

/** Registers what runs once the transaction has committed, and never if it rolls back. */
export type AfterCommit = (effect: () => unknown) => void;

export interface HandlerContext {
  tx: Sql;
  log: Logger;
  /**
   * Runs `effect` once the transaction has committed, and never if it rolls back: for what must
   * not happen or count twice when a handling is retried (metrics, a remote call whose intent the
   * transaction recorded). A promise it returns is not awaited by the consumer; it logs a rejection.
   */
  afterCommit: AfterCommit;
  /** The W3C traceparent of the span handling `message`, for the messages its handling sends. */
  traceparent(message: Message): string | null;
  /** Runs `work` with the span handling `message` active (for code that reads the active context). */
  within<R>(message: Message, work: () => R): R;
}

/** How a consumer group acts on its messages. */
export interface MessageHandling {
  /** The message types it acts on; any other type on its topics is skipped without being parsed. */
  types: readonly MessageType[];
  /**
   * Handles new messages, in offset order, inside the caller's transaction. Called with a whole
   * chunk, or with one message when a chunk failed and is retried one at a time.
   */
  handle(messages: readonly Message[], context: HandlerContext): Promise<void>;
}

export type MessageHandler<T extends MessageType> = (
  message: Message<T>,
  context: HandlerContext,
) => Promise<void>;
export type MessageHandlers = { [T in MessageType]?: MessageHandler<T> };

/**
 * A handling that takes the messages one after the other, each with its span active. For
 * handlers whose every message locks only its own aggregate (the partition key).
 */
export function eachMessage(handlers: MessageHandlers): MessageHandling {
  const types = Object.keys(handlers).filter(isMessageType);
  return {
    types,
    async handle(messages, ctx) {
      for (const message of messages) {
        const handler = handlers[message.type] as MessageHandler<MessageType> | undefined;
        if (handler) await ctx.within(message, () => handler(message, ctx));
      }
    },
  };
}

export interface IdempotentConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topics: readonly Topic[];
  handling: MessageHandling;
  database: Database;
  /** Publishes dead letters. */
  producer: Producer;
  logger: Logger;
  metrics?: Registry;
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /** Backoff while the infrastructure is down (no attempt limit). */
  outageBackoff?: BackoffPolicy;
  /**
   * How many partitions' batches of a fetch kafkajs hands over at once (default 64): all of them,
   * so that they meet in one transaction.
   */
  partitionsConsumedConcurrently?: number;
  /** At most this many messages are handled in one transaction. */
  batchSize?: number;
  /**
   * How long handled offsets may wait before they are committed to Kafka, together (ms; default
   * 1000). Not after every batch: at a few messages a batch, an OffsetCommit per batch was a large
   * part of the broker's and the consumers' work. What a crash leaves uncommitted is delivered
   * again and dropped as a duplicate (processed_messages), as a batch in hand always was; a
   * graceful stop commits first.
   */
  commitIntervalMs?: number;
  /**
   * The least time from one fetch's messages to the next fetch (ms; default 0). A fetch returns
   * as soon as anything is there, so at moderate rates each one brings a message or two and every
   * message pays a fetch and a transaction of its own; lingering lets the next fetch bring what
   * arrived meanwhile, to share them (Kafka's producers linger 5 ms by default, for the same
   * reason). The first message after a quiet spell is fetched at once; the cost is at most this
   * long for the ones behind it.
   */
  lingerMs?: number;
  /** The group's session and heartbeat (kafka.ts). */
  timings?: ConsumerTimings;
  /**
   * How long a started consumer may show no sign of life (no fetch, no batch, no heartbeat, no
   * retry of its own) before failure() calls it stalled (ms; default 30 000). An idle consumer
   * fetches about once a second (maxWaitTimeInMs), so 30 s of nothing is a client that stopped.
   */
  stallMs?: number;
  fromBeginning?: boolean;
  /** Prepended to every topic name, the dead-letter topic included. */
  topicPrefix?: string;
}

type Outcome = 'handled' | 'duplicate' | 'ignored' | 'dead-lettered';

/** One message of a chunk, once its header or its value has been read. */
type Delivery =
  | { kind: 'skip'; message: KafkaMessage; type: string }
  | { kind: 'invalid'; message: KafkaMessage; reason: string }
  | { kind: 'handle'; message: KafkaMessage; envelope: Message };

interface Traced {
  delivery: Extract<Delivery, { kind: 'handle' }>;
  span: Span;
  active: Context;
}

/**
 * Takes the per-key locks of `messages` and records them as processed by `group`, in the caller's
 * transaction; returns the ids that were new (the others were handled before).
 *
 * The per-key locks come first, in a fixed order so two transactions cannot deadlock on them, then
 * the processed rows, in one statement: the lock is taken (the CTE runs first) before the rows are
 * written. A key's messages are handled one at a time in this group even when a rebalance briefly
 * hands its partition to a second member while the first is still handling it. The statement is
 * the transaction's first, written with its values inlined so that BEGIN travels with it
 * (Database.transaction); the message ids are UUIDs (the envelope's schema) and every string is
 * quoted by node-postgres.
 */
export async function claimMessages(
  tx: Sql,
  group: string,
  messages: readonly Message[],
): Promise<Set<string>> {
  const { rows } = await tx.query<{ id: string }>(
    `WITH locked AS MATERIALIZED (${keyLocks(group, messages)})
     INSERT INTO processed_messages (consumer_group, message_id)
     SELECT ${sqlLiteral(group)}, id FROM locked, unnest(${sqlLiteral(messages.map((m) => m.id))}::uuid[]) AS id
     ON CONFLICT DO NOTHING RETURNING message_id::text AS id`,
  );
  return new Set(rows.map((row) => row.id));
}

/**
 * Takes only the per-key locks claimMessages takes, and records nothing: for a caller that hands
 * messages to a handler itself (a test) and must serialize copies of one key as the group would.
 */
export async function lockMessageKeys(tx: Sql, group: string, messages: readonly Message[]): Promise<void> {
  await tx.query(keyLocks(group, messages));
}

/** The query that takes the transaction-level lock of each of the messages' keys in `group`, in key order. */
function keyLocks(group: string, messages: readonly Message[]): string {
  const keys = messages.map((m) => `${group}:${m.key}`);
  return `SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) AS n
            FROM (SELECT DISTINCT k FROM unnest(${sqlLiteral(keys)}::text[]) AS k ORDER BY k) AS keys`;
}

/** What supervision needs to know about a consumer to tell whether it is failing. */
export interface ConsumerVitals {
  started: boolean;
  /** Set when kafkajs crashed and will not restart the consumer by itself. */
  crashedForGood?: string;
  /** When the consumer last showed a sign of life (ms, any monotonic clock). */
  lastActivityAt: number;
  now: number;
  stallMs: number;
}

/**
 * Why a consumer needs replacing, or undefined while it is fine. kafkajs restarts a consumer
 * after a retriable crash by itself; after any other crash it stays down, and a client that
 * stopped fetching without a crash (a hung request, a hung handler) says nothing at all.
 */
export function consumerFailure(vitals: ConsumerVitals): string | undefined {
  if (!vitals.started) return undefined;
  if (vitals.crashedForGood) return `crashed and not restarted by kafkajs: ${vitals.crashedForGood}`;
  const quietMs = vitals.now - vitals.lastActivityAt;
  if (quietMs > vitals.stallMs)
    return `stalled: no fetch, batch or heartbeat for ${Math.round(quietMs / 1000)} s`;
  return undefined;
}

export class IdempotentConsumer {
  readonly #consumer: Consumer;
  readonly #options: IdempotentConsumerOptions & {
    maxAttempts: number;
    backoff: BackoffPolicy;
    outageBackoff: BackoffPolicy;
    batchSize: number;
  };
  readonly #handled: ReadonlySet<string>;
  readonly #log: Logger;
  readonly #stopController = new AbortController();
  /** The next offset to consume of each partition handled here since the last commit. */
  readonly #handledOffsets = new Map<string, { topic: string; partition: number; offset: string }>();
  #commitTimer: NodeJS.Timeout | undefined;
  #joined = false;
  #crashed: string | undefined;
  #crashedForGood: string | undefined;
  #started = false;
  #lastActivityAt = performance.now();
  /** Where the partitions of a fetch meet: one transaction for all their messages. */
  readonly #together: Coalescer<Traced, Outcome>;
  readonly #processed?: Counter;
  readonly #duration?: Histogram;

  constructor(options: IdempotentConsumerOptions) {
    this.#options = {
      maxAttempts: 5,
      backoff: { baseMs: 100, capMs: 2000 },
      outageBackoff: { baseMs: 250, capMs: 5000 },
      batchSize: 100,
      ...options,
    };
    this.#handled = new Set(options.handling.types);
    this.#together = new Coalescer(
      // One message alone goes straight to #handleAlone, with its retries.
      (work) => (work.length > 1 ? this.#handleTogether(work) : Promise.resolve(undefined)),
      this.#options.batchSize,
    );
    this.#log = options.logger.child({ component: 'consumer', group: options.groupId });
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      ...consumerSettings(options.timings),
    });
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, (event) => {
      this.#joined = true;
      this.#crashed = undefined;
      this.#alive();
      // A partition that went to another member is never committed from here again: its new
      // owner may be past what this one handled, and a commit would move it back.
      const assigned = event.payload.memberAssignment;
      for (const [id, handled] of this.#handledOffsets) {
        if (!assigned[handled.topic]?.includes(handled.partition)) this.#handledOffsets.delete(id);
      }
    });
    this.#consumer.on(this.#consumer.events.CRASH, (event) => {
      this.#joined = false;
      this.#crashed = String(event.payload.error?.message ?? event.payload.error);
      if (event.payload.restart) this.#alive();
      else {
        this.#crashedForGood = this.#crashed;
        this.#log.error({ err: event.payload.error }, 'consumer crashed and kafkajs will not restart it');
      }
    });
    // Signs of life, for failure(): kafkajs working (fetching, handling, heartbeating, rejoining).
    const { FETCH_START, START_BATCH_PROCESS, END_BATCH_PROCESS, HEARTBEAT, REBALANCING } =
      this.#consumer.events;
    for (const event of [FETCH_START, START_BATCH_PROCESS, END_BATCH_PROCESS, HEARTBEAT, REBALANCING]) {
      this.#consumer.on(event, () => this.#alive());
    }
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
            help: 'Time to handle one transaction of messages (a chunk, or one message retried alone), retries included.',
            labelNames: ['group'],
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
            registers: [registry],
          }),
      );
    }
  }

  async start(): Promise<void> {
    this.#alive();
    await this.#consumer.connect();
    const prefix = this.#options.topicPrefix ?? '';
    await this.#consumer.subscribe({
      topics: this.#options.topics.map((topic) => prefix + topic),
      fromBeginning: this.#options.fromBeginning ?? true,
    });
    await this.#consumer.run({
      partitionsConsumedConcurrently: this.#options.partitionsConsumedConcurrently ?? 64,
      eachBatchAutoResolve: false,
      // kafkajs commits after every batch when it commits by itself; here a timer commits what
      // was handled at most once every commitIntervalMs (#commitSoon).
      autoCommit: false,
      eachBatch: (payload) => this.#consumeBatch(payload),
    });
    this.#alive();
    this.#started = true;
  }

  #alive(): void {
    this.#lastActivityAt = performance.now();
  }

  /** Why this consumer should be replaced by a fresh one (consumption-gate.ts), or undefined. */
  failure(): string | undefined {
    return consumerFailure({
      started: this.#started && !this.#stopController.signal.aborted,
      ...(this.#crashedForGood ? { crashedForGood: this.#crashedForGood } : {}),
      lastActivityAt: this.#lastActivityAt,
      now: performance.now(),
      stallMs: this.#options.stallMs ?? 30_000,
    });
  }

  /**
   * Stops after the chunk in hand; an outage retry in progress is abandoned and redelivered later.
   * The offsets handled so far are committed first, so the next owner of the partitions starts
   * after them (what is handled after this commit is redelivered and dropped as a duplicate).
   */
  async stop(): Promise<void> {
    this.#stopController.abort(new Error('consumer stopping'));
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    await this.#commitHandled();
    await this.#consumer.disconnect();
  }

  /** Commits the handled offsets within commitIntervalMs, one commit for all that arrive meanwhile. */
  #commitSoon(): void {
    if (this.#commitTimer || this.#stopController.signal.aborted) return;
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      void this.#commitHandled();
    }, this.#options.commitIntervalMs ?? 1000);
    this.#commitTimer.unref();
  }

  async #commitHandled(): Promise<void> {
    const handled = [...this.#handledOffsets.values()];
    this.#handledOffsets.clear();
    if (handled.length === 0) return;
    await this.#consumer.commitOffsets(handled).catch((err: unknown) => {
      // Harmless: the next owner of these partitions gets their messages again and drops them.
      this.#log.warn({ err }, 'committing the handled offsets failed; their messages will be redelivered');
    });
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

  async #consumeBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) {
    const fetched = performance.now();
    const size = this.#options.batchSize;
    for (let start = 0; start < batch.messages.length; start += size) {
      // A rebalance took the partition away, or the consumer is stopping: the rest is redelivered.
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + size);
      await this.#consumeChunk(batch.topic, batch.partition, chunk, heartbeat);
      const last = chunk.at(-1)!.offset;
      resolveOffset(last);
      this.#handledOffsets.set(`${batch.topic}:${batch.partition}`, {
        topic: batch.topic,
        partition: batch.partition,
        offset: (BigInt(last) + 1n).toString(),
      });
      this.#commitSoon();
      this.#alive();
      await heartbeat();
    }
    // kafkajs fetches again once every partition's eachBatch has returned.
    const linger = fetched + (this.#options.lingerMs ?? 0) - performance.now();
    if (linger > 0 && isRunning()) await sleep(linger, this.#stopController.signal).catch(() => undefined);
  }

  async #consumeChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const deliveries = messages.map((message) => this.#read(message));
    const counts = new Map<string, number>();
    const count = (type: string, outcome: Outcome, n = 1) => {
      const label = `${type}\u0000${outcome}`;
      counts.set(label, (counts.get(label) ?? 0) + n);
    };
    for (const delivery of deliveries) {
      if (delivery.kind === 'skip') count(delivery.type, 'ignored');
      else if (delivery.kind === 'invalid') {
        await this.#deadLetter(topic, partition, delivery.message, delivery.reason, 0);
        count(headerText(delivery.message.headers, 'message-type') ?? 'unknown', 'dead-lettered');
      }
    }
    const work = deliveries
      .filter((d): d is Extract<Delivery, { kind: 'handle' }> => d.kind === 'handle')
      .map((delivery) => this.#trace(topic, delivery));
    try {
      const outcomes = work.length > 0 ? await this.#together.submit(work) : [];
      if (outcomes) {
        for (const [i, w] of work.entries()) count(w.delivery.envelope.type, outcomes[i]!);
        return;
      }
      for (const w of work) {
        count(w.delivery.envelope.type, await this.#handleAlone(topic, partition, w, heartbeat));
        this.#alive();
        await heartbeat();
      }
    } catch (error) {
      for (const w of work) {
        w.span.recordException(error as Error);
        w.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      throw error;
    } finally {
      for (const w of work) w.span.end();
      for (const [label, n] of counts) {
        const [type, outcome] = label.split('\u0000');
        this.#processed?.inc({ group: this.#options.groupId, type, outcome }, n);
      }
    }
  }

  /**
   * What a message is. A type named in the header that this group does not handle is skipped
   * unparsed (another group handles it, and dead-letters it if it is malformed); anything else
   * is parsed and validated whole.
   */
  #read(message: KafkaMessage): Delivery {
    const declared = headerText(message.headers, 'message-type');
    if (declared !== undefined && isMessageType(declared) && !this.#handled.has(declared))
      return { kind: 'skip', message, type: declared };
    const parsed = parseMessage(message.value);
    if (!parsed.ok) return { kind: 'invalid', message, reason: parsed.reason };
    if (!this.#handled.has(parsed.message.type)) return { kind: 'skip', message, type: parsed.message.type };
    return { kind: 'handle', message, envelope: parsed.message };
  }

  #trace(topic: string, delivery: Extract<Delivery, { kind: 'handle' }>): Traced {
    const { envelope, message } = delivery;
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
      },
      parent,
    );
    return { delivery, span, active: trace.setSpan(parent, span) };
  }

  /**
   * Handles messages (of one fetch, from any of its partitions) in one transaction. Returns each
   * one's outcome, or undefined, having changed nothing, if any of it failed: each partition then
   * handles its messages one at a time.
   */
  async #handleTogether(work: Traced[]): Promise<Outcome[] | undefined> {
    try {
      const outcomes = await this.#transact(work);
      for (const w of work) w.span.setAttribute('shop.batch.size', work.length);
      return outcomes;
    } catch (error) {
      if (this.#stopController.signal.aborted) throw error;
      this.#log.info(
        { err: error, messages: work.length },
        'handling a batch failed; handling its messages one at a time',
      );
      for (const w of work) w.span.setAttribute('shop.batch.retried_alone', true);
      return undefined;
    }
  }

  /** One message in its own transaction, retried; dead-lettered once it keeps failing. */
  async #handleAlone(
    topic: string,
    partition: number,
    w: Traced,
    heartbeat: () => Promise<void>,
  ): Promise<Outcome> {
    const { maxAttempts, backoff, outageBackoff } = this.#options;
    const { envelope, message } = w.delivery;
    const log = this.#log.child({ messageId: envelope.id, type: envelope.type, key: envelope.key });
    let attempts = 0;
    let outages = 0;
    for (;;) {
      try {
        const [outcome] = await this.#transact([w]);
        return outcome!;
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

  /** The one way messages are handled: a transaction that records them and runs the handler on the new ones. */
  async #transact(work: Traced[]): Promise<Outcome[]> {
    const { groupId, database, handling } = this.#options;
    const stopTimer = this.#duration?.startTimer({ group: groupId });
    const effects: (() => unknown)[] = [];
    const spans = new Map(work.map((w) => [w.delivery.envelope, w]));
    const handlerContext = (tx: Sql): HandlerContext => ({
      tx,
      log: this.#log,
      afterCommit: (effect) => effects.push(effect),
      traceparent: (message) => {
        const w = spans.get(message);
        return w ? context.with(w.active, currentTraceparent) : message.traceparent;
      },
      within: (message, fn) => {
        const w = spans.get(message);
        return w ? context.with(w.active, fn) : fn();
      },
    });
    const outcomes = await database.transaction(async (tx) => {
      const fresh = await claimMessages(
        tx,
        groupId,
        work.map((w) => w.delivery.envelope),
      );
      const outcomes: Outcome[] = [];
      const messages: Message[] = [];
      for (const w of work) {
        // delete: the same message twice in one chunk (a relay re-sent it) is handled once.
        if (fresh.delete(w.delivery.envelope.id)) {
          messages.push(w.delivery.envelope);
          outcomes.push('handled');
        } else outcomes.push('duplicate');
      }
      if (messages.length > 0) await handling.handle(messages, handlerContext(tx));
      return outcomes;
    });
    stopTimer?.();
    runEffects(effects, this.#log);
    for (const [i, w] of work.entries()) w.span.setAttribute('shop.outcome', outcomes[i]!);
    return outcomes;
  }

  async #pause(ms: number, heartbeat: () => Promise<void>): Promise<void> {
    await sleep(ms, this.#stopController.signal);
    // Waiting out an outage is work, not a stall.
    this.#alive();
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

/** The committed handlings' effects; one that throws or rejects is logged, it cannot undo the commit. */
export function runEffects(effects: readonly (() => unknown)[], log: Logger): void {
  for (const effect of effects) {
    try {
      const result = effect();
      if (result instanceof Promise)
        result.catch((err: unknown) => log.warn({ err }, 'an effect after commit failed'));
    } catch (err) {
      log.warn({ err }, 'an effect after commit failed');
    }
  }
}
