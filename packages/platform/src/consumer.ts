// The idempotent consumer. Each message is handled in one database transaction
// together with a row in `processed_messages`, so a redelivered message (Kafka
// gives at-least-once) finds its row and has no second effect. A handler that
// fails is retried with backoff; after `maxAttempts` the message goes to the
// dead-letter topic with the error attached and the partition moves on. A
// message that is not valid at all goes there at once. A database or network
// outage is not the message's fault: those are retried for as long as it takes,
// holding the partition, so nothing is dead-lettered because Postgres restarted.
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { DEAD_LETTER_TOPIC, type Message, type MessageType, parseMessage, type Topic } from '@shop/contracts';
import type { Consumer, EachMessagePayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import type { Logger } from './logging.js';
import { Counter, Histogram, metric } from './metrics.js';
import type { SqlTransaction } from './outbox.js';
import { isTransientInfrastructureError } from './retry-policy.js';
import { contextFromTraceparent, tracer } from './tracing.js';

export interface HandlerContext<Tx> {
  tx: Tx;
  log: Logger;
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
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
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
            help: 'Time to handle one message, retries included.',
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
    await this.#consumer.run({
      partitionsConsumedConcurrently: this.#options.partitionsConsumedConcurrently ?? 3,
      eachMessage: (payload) => this.#consume(payload),
    });
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

  async #consume({ topic, partition, message, heartbeat }: EachMessagePayload): Promise<void> {
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
    try {
      const outcome = await context.with(trace.setSpan(parent, span), () =>
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
      try {
        return await this.#options.runInTransaction(async (tx) => {
          // One aggregate's messages are handled one at a time in this group, even when a
          // rebalance or a restart briefly hands its partition to a second delivery while
          // the first is still in flight (the second waits here, then finds it processed).
          await tx.$executeRawUnsafe(
            'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
            `${groupId}:${envelope.key}`,
          );
          const fresh = await tx.$executeRawUnsafe(
            'INSERT INTO processed_messages (consumer_group, message_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING',
            groupId,
            envelope.id,
          );
          if (fresh === 0) return 'duplicate' as const;
          await handler(envelope, { tx, log });
          return 'handled' as const;
        });
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
