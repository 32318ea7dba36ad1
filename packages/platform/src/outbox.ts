// The transactional outbox. A service writes the messages it wants to send into
// its own `outbox` table in the same transaction as the state change they
// describe, so either both happen or neither does. The relay then publishes
// pending rows to Kafka and marks them sent only after the broker acknowledged;
// a crash in between means the row is sent again, and consumers drop the
// duplicate by message id (see consumer.ts). Several replicas can relay at once:
// rows are claimed with FOR UPDATE SKIP LOCKED, and a row is held back while an
// earlier row of its key is still pending outside its batch, which keeps the order
// per key (writers of one aggregate serialise on its row, so id order is commit order).
import { type Message, type MessageType, topicOf } from '@shop/contracts';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import type { Registry } from 'prom-client';
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import type { Logger } from './logging.js';
import { Counter, Histogram, metric } from './metrics.js';

/** The part of a transaction client the outbox and the consumers need (a Prisma transaction client fits). */
export interface SqlTransaction {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

export const OUTBOX_CHANNEL = 'outbox';

/** Writes messages (built with buildMessage) to the outbox inside the caller's transaction. */
export async function enqueue(
  tx: SqlTransaction,
  ...messages: { id: string; type: MessageType; key: string }[]
): Promise<void> {
  if (messages.length === 0) return;
  const values: unknown[] = [];
  const rows = messages.map((message, index) => {
    values.push(message.id, topicOf(message.type), message.key, message.type, JSON.stringify(message));
    const p = index * 5;
    return `($${p + 1}::uuid, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}::jsonb)`;
  });
  await tx.$executeRawUnsafe(
    `INSERT INTO outbox (message_id, topic, key, type, payload) VALUES ${rows.join(', ')}`,
    ...values,
  );
}

interface PendingRow {
  id: string;
  topic: string;
  key: string;
  type: string;
  payload: Message;
}

export interface OutboxRelayOptions {
  databaseUrl: string;
  producer: Producer;
  logger: Logger;
  metrics?: Registry;
  batchSize?: number;
  /** Safety net only: the relay normally wakes on NOTIFY from the outbox trigger. */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
  /** Prepended to every topic name (separate environments or test runs on one cluster). */
  topicPrefix?: string;
  backoff?: BackoffPolicy;
}

export class OutboxRelay {
  readonly #pool: pg.Pool;
  readonly #options: Required<Omit<OutboxRelayOptions, 'metrics'>> & Pick<OutboxRelayOptions, 'metrics'>;
  readonly #log: Logger;
  #listener: pg.Client | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #signalled = false;
  #stopController = new AbortController();
  #lastPrune = 0;
  #heldBack = 0;
  readonly #published?: Counter;
  readonly #lag?: Histogram;

  constructor(options: OutboxRelayOptions) {
    this.#options = {
      batchSize: 200,
      pollIntervalMs: 5000,
      retentionMs: 60 * 60 * 1000,
      backoff: { baseMs: 100, capMs: 5000 },
      topicPrefix: '',
      ...options,
    };
    this.#log = options.logger.child({ component: 'outbox-relay' });
    this.#pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
    this.#pool.on('error', (err) => this.#log.warn({ err }, 'idle outbox connection failed'));
    const registry = options.metrics;
    if (registry) {
      this.#published = metric(
        registry,
        'outbox_published_total',
        () =>
          new Counter({
            name: 'outbox_published_total',
            help: 'Messages published from the outbox, by topic.',
            labelNames: ['topic'],
            registers: [registry],
          }),
      );
      this.#lag = metric(
        registry,
        'outbox_publish_lag_seconds',
        () =>
          new Histogram({
            name: 'outbox_publish_lag_seconds',
            help: 'Time from the outbox insert to the broker acknowledgement.',
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
            registers: [registry],
          }),
      );
    }
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stopController = new AbortController();
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopController.abort();
    this.#wake?.();
    await this.#loop;
    await this.#listener?.end().catch(() => undefined);
    this.#listener = undefined;
    await this.#pool.end();
  }

  /** Rows waiting to be published; for readiness detail and tests. */
  async pending(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM outbox WHERE published_at IS NULL',
    );
    return Number(rows[0]?.n ?? 0);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      try {
        await this.#ensureListening();
        const published = await this.publishBatch();
        failures = 0;
        await this.#pruneNow();
        // Held-back rows become publishable when another relay commits, which sends no NOTIFY.
        if (published === 0 && this.#heldBack > 0)
          await sleep(20, this.#stopController.signal).catch(() => undefined);
        else if (published === 0) await this.#waitForSignal();
      } catch (err) {
        if (!this.#running) break;
        const delay = fullJitterDelay(Math.min(failures++, 10), this.#options.backoff);
        this.#log.warn({ err, retryInMs: delay }, 'outbox relay failed; retrying');
        await sleep(delay, this.#stopController.signal).catch(() => undefined);
      }
    }
  }

  /** Publishes one batch of pending rows; returns how many were published. */
  async publishBatch(): Promise<number> {
    const client = await this.#pool.connect();
    // pg removes its idle error listener on checkout; without one, a server restart mid-batch would crash the process.
    const onError = (err: Error) => this.#log.warn({ err }, 'outbox connection failed mid-batch');
    client.on('error', onError);
    let broken = false;
    try {
      await client.query('BEGIN');
      const claimed = await client.query<PendingRow>(
        `SELECT id, topic, key, type, payload FROM outbox
          WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.#options.batchSize],
      );
      const rows = await this.#withoutOvertaking(client, claimed.rows);
      this.#heldBack = claimed.rows.length - rows.length;
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const byTopic = new Map<string, PendingRow[]>();
      for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
      await this.#options.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, topicRows]) => ({
          topic: this.#options.topicPrefix + topic,
          messages: topicRows.map((row) => ({
            key: row.key,
            value: JSON.stringify(row.payload),
            headers: {
              'content-type': 'application/json',
              'message-id': row.payload.id,
              'message-type': row.type,
              ...(row.payload.traceparent ? { traceparent: row.payload.traceparent } : {}),
            },
          })),
        })),
      });
      await client.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
        rows.map((row) => row.id),
      ]);
      await client.query('COMMIT');
      this.#record(rows);
      return rows.length;
    } catch (error) {
      broken = true;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  // A claimed row must wait while an earlier pending row of its key is not in this
  // batch: another relay claimed it (SKIP LOCKED hid it from us), and publishing now
  // would overtake it. That gap can sit between two of our own rows of the key (we
  // hold 1 and 4, another relay 2 and 3), so the check is per row, not per key: the
  // rows of a key before its first gap go now, the rest wait. The lowest pending row
  // of a key is never behind a gap, so some relay can always make progress.
  async #withoutOvertaking(client: pg.PoolClient, rows: PendingRow[]): Promise<PendingRow[]> {
    if (rows.length === 0) return rows;
    const lastIdByKey = new Map<string, string>();
    for (const row of rows) lastIdByKey.set(row.key, row.id); // claimed in id order: the last one stays
    const { rows: gaps } = await client.query<{ key: string; id: string }>(
      `SELECT o.key, min(o.id)::text AS id FROM outbox o
         JOIN unnest($1::text[], $2::bigint[]) AS last(key, id) ON o.key = last.key
        WHERE o.published_at IS NULL AND o.id < last.id AND o.id <> ALL($3::bigint[])
        GROUP BY o.key`,
      [[...lastIdByKey.keys()], [...lastIdByKey.values()], rows.map((row) => row.id)],
    );
    if (gaps.length === 0) return rows;
    const firstGap = new Map(gaps.map((gap) => [gap.key, BigInt(gap.id)]));
    return rows.filter((row) => {
      const gap = firstGap.get(row.key);
      return gap === undefined || BigInt(row.id) < gap;
    });
  }

  #record(rows: PendingRow[]): void {
    const now = Date.now();
    for (const row of rows) {
      this.#published?.inc({ topic: row.topic });
      this.#lag?.observe((now - Date.parse(row.payload.time)) / 1000);
    }
  }

  async #pruneNow(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPrune < 60_000) return;
    this.#lastPrune = now;
    await this.#pool.query(
      `DELETE FROM outbox WHERE id IN (
         SELECT id FROM outbox WHERE published_at < now() - $1::interval LIMIT 5000)`,
      [`${Math.round(this.#options.retentionMs / 1000)} seconds`],
    );
  }

  async #ensureListening(): Promise<void> {
    if (this.#listener) return;
    const listener = new pg.Client({ connectionString: this.#options.databaseUrl });
    listener.on('notification', () => this.#signal());
    listener.on('error', (err) => {
      this.#log.warn({ err }, 'outbox LISTEN connection lost; polling until it is back');
      if (this.#listener === listener) this.#listener = undefined;
      this.#signal();
    });
    await listener.connect();
    await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    this.#listener = listener;
  }

  #signal(): void {
    this.#signalled = true;
    this.#wake?.();
  }

  async #waitForSignal(): Promise<void> {
    if (this.#signalled) {
      this.#signalled = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#options.pollIntervalMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
    this.#signalled = false;
  }
}

/** The outbox and processed-message tables and the NOTIFY trigger, for tests and as the migration reference. */
export const MESSAGING_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS outbox (
  id BIGSERIAL PRIMARY KEY,
  message_id UUID NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  key TEXT NOT NULL,
  type TEXT NOT NULL,
  payload JSONB NOT NULL,
  created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  published_at TIMESTAMPTZ(3)
);
CREATE INDEX IF NOT EXISTS outbox_published_at_id_idx ON outbox (published_at, id);
CREATE INDEX IF NOT EXISTS outbox_key_id_idx ON outbox (key, id);
CREATE TABLE IF NOT EXISTS processed_messages (
  consumer_group TEXT NOT NULL,
  message_id UUID NOT NULL,
  processed_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, message_id)
);
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${OUTBOX_CHANNEL}', '');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
`;
