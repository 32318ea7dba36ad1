// The transactional outbox. A service writes the messages it wants to send into
// its own `outbox` table in the same transaction as the state change they
// describe, so either both happen or neither does. The relay then publishes
// pending rows to Kafka in batches and marks them sent only after the broker
// acknowledged; a crash in between means the rows are sent again, and consumers
// drop the duplicates by message id (see consumer.ts). Several replicas may run a
// relay on one database; one of them relays at a time (a transaction-scoped
// advisory lock), so rows go in id order, which keeps the order per key (writers
// of one aggregate serialise on its row, so id order is commit order). The others
// stand by and take over within a second when it stops.
//
// A round is three round trips: BEGIN, the lock and the claim as one simple
// query; the Kafka request; the mark and COMMIT as one. On this kind of machine a
// round trip costs a process wake-up on each side, and at moderate rates those
// are most of what a message costs (bench/FINDINGS.md).
import { type Message, topicOf } from '@shop/contracts';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import type { Registry } from 'prom-client';
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import { type Database, type Sql, sqlLiteral } from './database.js';
import type { Logger } from './logging.js';
import { Counter, Histogram, metric } from './metrics.js';

export const OUTBOX_CHANNEL = 'outbox';
/** How long a relay that found another relaying waits before it tries again (unless woken first). */
const STAND_BY_MS = 1000;

/**
 * The outbox insert as SQL with its parameters numbered from `$first`, for a statement that does
 * more than enqueue (a CTE beside the state change, so the change and its messages are one round
 * trip). `from` joins other rows (a CTE with one row inserts the messages once, with none it
 * inserts nothing); `where` filters the messages, each named `m` (m.key, m.type...).
 */
export function enqueueStatement(first: number) {
  const $ = (i: number) => `$${first + i}`;
  const rows = `unnest(${$(0)}::uuid[], ${$(1)}::text[], ${$(2)}::text[], ${$(3)}::text[], ${$(4)}::jsonb[])
                AS m(message_id, topic, key, type, payload)`;
  return {
    insert: ({ from, where }: { from?: string; where?: string } = {}) =>
      `INSERT INTO outbox (message_id, topic, key, type, payload)
       SELECT m.message_id, m.topic, m.key, m.type, m.payload FROM ${from ? `${from}, ` : ''}${rows}
       ${where ? `WHERE ${where}` : ''}`,
    values: (messages: readonly Message[]): unknown[] => [
      messages.map((m) => m.id),
      messages.map((m) => topicOf(m.type)),
      messages.map((m) => m.key),
      messages.map((m) => m.type),
      messages.map((m) => JSON.stringify(m)),
    ],
  };
}

const outboxInsert = enqueueStatement(1);
// A named statement: parsed once per connection, then only bound and executed.
const INSERT_OUTBOX = { name: 'shop-outbox-insert', text: outboxInsert.insert() };

/** What enqueue needs of a transaction: node-postgres' query with a statement object. */
export interface OutboxWriter {
  query(statement: { name?: string; text: string; values?: unknown[] }): Promise<unknown>;
}

/**
 * A Prisma interactive transaction as an OutboxWriter, for the few writes that stay on Prisma
 * (users' account changes, which are not on any hot path).
 */
export function prismaOutbox(tx: {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}): OutboxWriter {
  return { query: ({ text, values = [] }) => tx.$executeRawUnsafe(text, ...values) };
}

/** Writes messages (built with buildMessage) to the outbox inside the caller's transaction, in this order. */
export async function enqueue(tx: Sql | OutboxWriter, ...messages: Message[]): Promise<void> {
  if (messages.length === 0) return;
  await (tx as OutboxWriter).query({ ...INSERT_OUTBOX, values: outboxInsert.values(messages) });
}

/** A claimed row, read the way it is sent: the payload as JSON text, never parsed here. */
interface PendingRow {
  /** A bigint, which node-postgres reads as a string. */
  id: string;
  topic: string;
  key: string;
  type: string;
  message_id: string;
  traceparent: string | null;
  value: string;
  created_ms: number;
}

/** Held by the relay that is relaying, until its round's transaction ends. */
const RELAY_LOCK = "hashtextextended('shop:outbox-relay', 0)";

/**
 * The round's first round trip: BEGIN (the mark need not wait for the WAL flush: if Postgres
 * loses it in a crash, the rows are published again, and every consumer drops a message it has
 * handled already), the relay lock, and the claim when the lock was got.
 *
 * ORDER BY published_at, id (all NULL here, so it is id order) is the order of the
 * (published_at, id) index: the scan starts at the pending rows rather than walking the primary
 * key through every published row the retention keeps, and its cost is linear in the rows it
 * claims whatever the statistics say (autoanalyze runs when the queue is empty, and a backlog
 * grows between two analyses; a claim planned with nested loops once ran for minutes). FOR
 * UPDATE without SKIP LOCKED: nothing but the relaying relay locks pending rows, and should
 * anything else, the claim waits rather than overtake.
 */
export function claimStatement(batchSize: number): string {
  return `BEGIN; SET LOCAL synchronous_commit TO off;
    SELECT pg_try_advisory_xact_lock(${RELAY_LOCK}) AS relaying;
    SELECT id, topic, key, type, message_id::text, payload->>'traceparent' AS traceparent,
           payload::text AS value, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms
      FROM outbox WHERE published_at IS NULL AND (SELECT pg_try_advisory_xact_lock(${RELAY_LOCK}))
     ORDER BY published_at, id LIMIT ${sqlLiteral(batchSize)} FOR UPDATE`;
}

/** The round's last round trip: the published rows marked, and COMMIT. */
export function markStatement(ids: readonly string[]): string {
  return `UPDATE outbox SET published_at = now() WHERE id = ANY(${sqlLiteral(ids.map(BigInt))}::bigint[]); COMMIT`;
}

export interface OutboxRelayOptions {
  database: Database;
  producer: Producer;
  logger: Logger;
  metrics?: Registry;
  batchSize?: number;
  /** Safety net only: the relay normally wakes on NOTIFY from the outbox trigger. */
  pollIntervalMs?: number;
  /**
   * The least time between the starts of two claims (ms; default 0), so that what is written
   * meanwhile shares one claim, one Kafka request and one mark. The first row after a quiet
   * spell is claimed at once. (Kafka's producers linger 5 ms by default, for the same reason.)
   */
  lingerMs?: number;
  /** Prepended to every topic name (separate environments or test runs on one cluster). */
  topicPrefix?: string;
  backoff?: BackoffPolicy;
}

export class OutboxRelay {
  readonly #database: Database;
  readonly #options: Required<Omit<OutboxRelayOptions, 'metrics' | 'database'>> &
    Pick<OutboxRelayOptions, 'metrics'>;
  readonly #log: Logger;
  #listener: pg.Client | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #signalled = false;
  #stopController = new AbortController();
  /** Another relay held the lock at the last claim. */
  #standingBy = false;
  /** The last claim got less than a full batch: nothing was pending beyond it. */
  #drained = true;
  readonly #published?: Counter;
  readonly #lag?: Histogram;

  constructor(options: OutboxRelayOptions) {
    const { database, ...rest } = options;
    this.#database = database;
    this.#options = {
      batchSize: 500,
      pollIntervalMs: 5000,
      lingerMs: 0,
      backoff: { baseMs: 100, capMs: 5000 },
      topicPrefix: '',
      ...rest,
    };
    this.#log = options.logger.child({ component: 'outbox-relay' });
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

  /** Stops after the batch in hand. The database pool belongs to the service and stays open. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopController.abort();
    this.#wake?.();
    await this.#loop;
    await this.#listener?.end().catch(() => undefined);
    this.#listener = undefined;
  }

  /** Rows waiting to be published; for readiness detail and tests. */
  async pending(): Promise<number> {
    const { rows } = await this.#database.query<{ n: string }>(
      'SELECT count(*) AS n FROM outbox WHERE published_at IS NULL',
    );
    return Number(rows[0]?.n ?? 0);
  }

  async #run(): Promise<void> {
    let failures = 0;
    let lastClaimAt = Number.NEGATIVE_INFINITY;
    while (this.#running) {
      try {
        await this.#ensureListening();
        const linger = lastClaimAt + this.#options.lingerMs - performance.now();
        if (linger > 0) await sleep(linger, this.#stopController.signal).catch(() => undefined);
        if (!this.#running) break;
        lastClaimAt = performance.now();
        // A claim that found nothing (on starting, or after a spell with nothing written) ends
        // no burst: the next row is the first after a quiet spell, and goes at once.
        if ((await this.publishBatch()) === 0) lastClaimAt = Number.NEGATIVE_INFINITY;
        failures = 0;
        // Another relay is relaying, and gets the same NOTIFYs: stand by, deaf to them, and take
        // over within a second should it stop.
        if (this.#standingBy) {
          await sleep(STAND_BY_MS, this.#stopController.signal).catch(() => undefined);
          this.#signalled = false;
        }
        // A claim that got less than a full batch took everything pending: what came after it
        // has sent a NOTIFY. Claiming again at once would mostly find nothing, a round trip and
        // a wake-up on both sides spent for it.
        else if (this.#drained) await this.#waitForSignal();
      } catch (err) {
        if (!this.#running) break;
        const delay = fullJitterDelay(Math.min(failures++, 10), this.#options.backoff);
        this.#log.warn({ err, retryInMs: delay }, 'outbox relay failed; retrying');
        await sleep(delay, this.#stopController.signal).catch(() => undefined);
      }
    }
  }

  /**
   * Publishes one batch of pending rows; returns how many were published (0 as well when another
   * relay is relaying).
   */
  async publishBatch(): Promise<number> {
    const rows = await this.#database.session(async (client) => {
      const results = (await client.query(
        claimStatement(this.#options.batchSize),
      )) as unknown as pg.QueryResult[];
      const relaying = (results[2]?.rows[0] as { relaying: boolean } | undefined)?.relaying === true;
      const claimed = (results[3]?.rows ?? []) as PendingRow[];
      this.#standingBy = !relaying;
      this.#drained = claimed.length < this.#options.batchSize;
      if (claimed.length === 0) {
        await client.query('ROLLBACK');
        return claimed;
      }
      await this.#options.producer.sendBatch({ acks: -1, topicMessages: this.#topicMessages(claimed) });
      await client.query(markStatement(claimed.map((row) => row.id)));
      return claimed;
    });
    this.#record(rows);
    return rows.length;
  }

  #topicMessages(rows: PendingRow[]) {
    const byTopic = new Map<string, PendingRow[]>();
    for (const row of rows) {
      const list = byTopic.get(row.topic);
      if (list) list.push(row);
      else byTopic.set(row.topic, [row]);
    }
    return [...byTopic].map(([topic, topicRows]) => ({
      topic: this.#options.topicPrefix + topic,
      messages: topicRows.map((row) => ({
        key: row.key,
        value: row.value,
        headers: {
          'content-type': 'application/json',
          'message-id': row.message_id,
          'message-type': row.type,
          ...(row.traceparent ? { traceparent: row.traceparent } : {}),
        },
      })),
    }));
  }

  #record(rows: PendingRow[]): void {
    if (rows.length === 0 || !this.#published) return;
    const now = Date.now();
    const perTopic = new Map<string, number>();
    for (const row of rows) {
      perTopic.set(row.topic, (perTopic.get(row.topic) ?? 0) + 1);
      this.#lag?.observe((now - row.created_ms) / 1000);
    }
    for (const [topic, count] of perTopic) this.#published.inc({ topic }, count);
  }

  async #ensureListening(): Promise<void> {
    if (this.#listener) return;
    const listener = new pg.Client(this.#database.pool.options);
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
CREATE INDEX IF NOT EXISTS outbox_key_id_idx ON outbox (key, id) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS processed_messages (
  consumer_group TEXT NOT NULL,
  message_id UUID NOT NULL,
  processed_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, message_id)
);
CREATE INDEX IF NOT EXISTS processed_messages_processed_at_idx ON processed_messages (processed_at);
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${OUTBOX_CHANNEL}', '');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
`;
