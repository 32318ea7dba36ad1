// Feeds the deny-list from `user.deleted` events on users.events. Every gateway
// instance reads the whole topic (its own consumer group, so instances do not
// share partitions) and, on start, seeks each partition back to the first
// message of the last access-token lifetime: a gateway started now still knows
// every deletion whose tokens may be alive.
//
// Kafka being down must not stop the gateway from starting: the feed keeps
// trying in the background and readiness stays false until it has read up to
// where the topic ended when it started. Once caught up, losing Kafka only
// shows in the readiness detail: a deletion cannot reach Kafka then either,
// and pulling every gateway out of rotation over it would take the shop down.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseMessage } from '@shop/contracts';
import {
  type BackoffPolicy,
  Counter,
  consumerSettings,
  createKafka,
  ensureTopics,
  fullJitterDelay,
  type Kafka,
  type Logger,
  type Registry,
  sleep,
  withTimeout,
} from '@shop/platform';
import type { Consumer, KafkaMessage } from 'kafkajs';
import type { DenyList } from './deny-list.js';

export interface DenyListFeedOptions {
  brokers: string[];
  /** KAFKA_TOPIC_PREFIX: the topic read is `<prefix>users.events`. */
  topicPrefix: string;
  /** Used when the topic does not exist yet (the gateway may start before users). */
  partitions: number;
  replicationFactor: number;
  denyList: DenyList;
  /** How far back to read on start: the access-token lifetime (plus skew). */
  lookbackMs: number;
  logger: Logger;
  metrics?: Registry;
  clientId?: string;
  /** Unique per instance by default. */
  groupId?: string;
  retry?: BackoffPolicy;
  now?: () => number;
}

type Phase = 'connecting' | 'catching-up' | 'live' | 'stopped';

export class DenyListFeed {
  readonly groupId: string;
  readonly topic: string;
  readonly #options: DenyListFeedOptions & { retry: BackoffPolicy; now: () => number };
  readonly #kafka: Kafka;
  readonly #log: Logger;
  readonly #stopping = new AbortController();
  readonly #events?: Counter;
  #consumer: Consumer | undefined;
  #phase: Phase = 'connecting';
  #joined = false;
  #everJoined = false;
  #caughtUp = false;
  #lastError: string | undefined;
  /** Partition -> the offset it must be read up to (its end when the feed started). */
  #behind = new Map<number, bigint>();
  #running: Promise<void> | undefined;

  constructor(options: DenyListFeedOptions) {
    this.#options = { retry: { baseMs: 500, capMs: 10_000 }, now: Date.now, ...options };
    this.groupId = options.groupId ?? `gateway-${hostname()}-${randomBytes(4).toString('hex')}`;
    this.topic = `${options.topicPrefix}users.events`;
    this.#log = options.logger.child({ component: 'deny-list-feed', group: this.groupId });
    this.#kafka = createKafka({
      brokers: options.brokers,
      clientId: options.clientId ?? 'gateway',
      logger: options.logger,
    });
    const registry = options.metrics;
    if (registry) {
      this.#events = new Counter({
        name: 'gateway_deny_list_events_total',
        help: 'user.deleted events read by the deny-list feed, by outcome (added, expired, invalid).',
        labelNames: ['outcome'],
        registers: [registry],
      });
    }
  }

  /** Starts in the background; never throws (see readiness). */
  start(): void {
    this.#running ??= this.#connectLoop();
  }

  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** Readiness: fails until the feed has caught up once. */
  readonly check = async () => {
    const detail = {
      group: this.groupId,
      phase: this.#phase,
      entries: this.#options.denyList.size,
      ...(this.#lastError && !this.#joined ? { lastError: this.#lastError } : {}),
    };
    if (this.#caughtUp) return detail;
    throw new Error(
      this.#phase === 'catching-up'
        ? `reading recent deletions (${this.#behind.size} partitions behind)`
        : `not connected to Kafka${this.#lastError ? `: ${this.#lastError}` : ''}`,
    );
  };

  async stop(): Promise<void> {
    this.#phase = 'stopped';
    this.#stopping.abort(new Error('deny-list feed stopping'));
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.disconnect();
    if (!this.#everJoined) return;
    // The group was only ever this instance's; do not leave it behind.
    const admin = this.#kafka.admin();
    await withTimeout(
      (async () => {
        await admin.connect();
        try {
          await admin.deleteGroups([this.groupId]);
        } finally {
          await admin.disconnect();
        }
      })(),
      3000,
      'deleting the consumer group timed out',
    ).catch((error: unknown) => this.#log.debug({ err: error }, 'could not delete the consumer group'));
  }

  async #connectLoop(): Promise<void> {
    for (let attempt = 0; !this.#stopping.signal.aborted; attempt++) {
      try {
        await this.#connect();
        return;
      } catch (error) {
        if (this.#stopping.signal.aborted) return;
        this.#lastError = error instanceof Error ? error.message : String(error);
        this.#log.warn({ err: error, attempt }, 'deny-list feed could not start; retrying');
        await this.#discardConsumer();
        await sleep(fullJitterDelay(attempt, this.#options.retry) + 250, this.#stopping.signal).catch(
          () => undefined,
        );
      }
    }
  }

  async #connect(): Promise<void> {
    const { partitions, replicationFactor, lookbackMs, now } = this.#options;
    this.#phase = 'connecting';
    await ensureTopics(this.#kafka, [this.topic], { partitions, replicationFactor });

    const since = now() - lookbackMs;
    const admin = this.#kafka.admin();
    await admin.connect();
    let starts: { partition: number; offset: string }[];
    let ends: { partition: number; offset: string }[];
    try {
      starts = await admin.fetchTopicOffsetsByTimestamp(this.topic, since);
      ends = await admin.fetchTopicOffsets(this.topic);
    } finally {
      await admin.disconnect();
    }
    this.#behind = new Map();
    for (const { partition, offset } of ends) {
      const start = starts.find((entry) => entry.partition === partition);
      if (start && BigInt(start.offset) < BigInt(offset)) this.#behind.set(partition, BigInt(offset));
    }

    const consumer = this.#kafka.consumer({
      groupId: this.groupId,
      ...consumerSettings(),
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.#joined = true;
      this.#everJoined = true;
      this.#lastError = undefined;
      this.#settle();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.#joined = false;
      this.#lastError = String(payload.error?.message ?? payload.error);
      // kafkajs rejoins by itself after a retriable error; otherwise start over.
      if (!payload.restart && this.#consumer === consumer && !this.#stopping.signal.aborted) {
        this.#log.error({ err: payload.error }, 'deny-list consumer crashed; starting over');
        this.#consumer = undefined;
        this.#running = consumer
          .disconnect()
          .catch(() => undefined)
          .then(() => this.#connectLoop());
      }
    });
    consumer.on(consumer.events.DISCONNECT, () => {
      this.#joined = false;
    });

    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: false });
    this.#phase = this.#caughtUp ? 'live' : 'catching-up';
    await consumer.run({
      eachMessage: async ({ partition, message }) => this.#handle(partition, message),
    });
    // After run: kafkajs applies seeks before its next fetch.
    for (const { partition, offset } of starts) consumer.seek({ topic: this.topic, partition, offset });
    this.#log.info(
      { topic: this.topic, since: new Date(since).toISOString(), starts },
      'deny-list feed started',
    );
  }

  #handle(partition: number, message: KafkaMessage): void {
    const parsed = parseMessage(message.value);
    if (!parsed.ok) {
      this.#events?.inc({ outcome: 'invalid' });
      this.#log.warn(
        { partition, offset: message.offset, reason: parsed.reason },
        'skipping an invalid message',
      );
    } else if (parsed.message.type === 'user.deleted') {
      const deletedAt = Date.parse(parsed.message.time);
      const added = this.#options.denyList.add(parsed.message.data.userId, deletedAt);
      this.#events?.inc({ outcome: added ? 'added' : 'expired' });
    }
    const end = this.#behind.get(partition);
    if (end !== undefined && BigInt(message.offset) + 1n >= end) {
      this.#behind.delete(partition);
      this.#settle();
    }
  }

  #settle(): void {
    if (this.#caughtUp || !this.#joined || this.#behind.size > 0) {
      if (this.#caughtUp && this.#joined) this.#phase = 'live';
      return;
    }
    this.#caughtUp = true;
    this.#phase = 'live';
    this.#log.info({ entries: this.#options.denyList.size }, 'deny-list caught up');
  }

  async #discardConsumer(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#joined = false;
    await consumer?.disconnect().catch(() => undefined);
  }
}
