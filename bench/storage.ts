// What one saga step costs the orders service's CPU, by the way it reaches
// Postgres. The same seven statements (lock, processed message, locked read,
// items, update, history, outbox) in one transaction, written (a) with Prisma
// model queries in an interactive transaction, as the saga was first written,
// (b) as SQL through the same Prisma transaction, as it was last, and (c) with
// node-postgres alone; then the saga as it runs now: (d) one real reply
// applied by the orchestrator in the consumer's transaction (claim, lock and
// read, decide, write, outbox: four statements on node-postgres), and (e) the
// same with 20 replies of a partition in one transaction, per reply. The ways
// take turns round after round; the difference is this process's CPU.
import { randomUUID } from 'node:crypto';
import { buildMessage, type Message } from '@shop/contracts';
import { claimMessages } from '@shop/platform';
import { createServiceDatabase, testLogger } from '@shop/testkit';
import { createDatabase, type PrismaClient } from '../services/orders/src/db.js';
import { uniformTimeouts } from '../services/orders/src/saga/deadlines.js';
import { OrderSaga, type SagaEvent } from '../services/orders/src/saga/orchestrator.js';
import { type Latencies, latencies } from './lib/stats.js';

type Transaction = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

// The statements all three ways send as the same text: the consumer's lock and processed row, the outbox row.
const LOCK_SQL = 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))';
const PROCESSED_SQL =
  'INSERT INTO processed_messages (consumer_group, message_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING';
const OUTBOX_SQL =
  'INSERT INTO outbox (message_id, topic, key, type, payload) VALUES ($1::uuid, $2, $3, $4, $5::jsonb)';

export type StorageWay = 'prisma-models' | 'prisma-sql' | 'pg' | 'saga' | 'saga-batch';

/** Replies per transaction in (e). */
const SAGA_BATCH = 20;

export interface StorageResult {
  way: StorageWay;
  /** This process's CPU per transaction (user + system), ms: the median over the rounds. */
  cpuMsPerTransaction: number;
  /** Wall time per transaction, one at a time, ms: the median over the rounds. */
  wallMsPerTransaction: number;
  rounds: Latencies;
}

export interface StorageReport {
  transactionsPerRound: number;
  rounds: number;
  results: StorageResult[];
}

export async function storageBenchmark(options: {
  rounds: number;
  transactionsPerRound: number;
  say: (line: string) => void;
}): Promise<StorageReport> {
  const { rounds, transactionsPerRound: n, say } = options;
  const db = await createServiceDatabase('orders');
  const { database, prisma } = createDatabase(db.url, 2);
  const pool = database.pool;
  const saga = new OrderSaga(uniformTimeouts(60_000), testLogger());
  const reply = (id: string): Message =>
    buildMessage('stock.reserved', id, { orderId: id }, { source: 'bench' });
  // (d) and (e) move each order from RESERVING_STOCK to AUTHORIZING_PAYMENT; it is put back, untimed, before each pass.
  const rewind = (ids: string[]) =>
    pool.query(
      `UPDATE orders SET saga_step = 'RESERVING_STOCK', step_attempts = 1 WHERE id = ANY($1::uuid[])`,
      [ids],
    );
  const sagaStep = (messages: Message[]) =>
    database.transaction(async (tx) => {
      await claimMessages(tx, 'bench', messages);
      const events = messages.map(
        (m): SagaEvent => ({
          orderId: m.key,
          input: { kind: 'reply', type: 'stock.reserved', data: {} },
          cause: m.type,
          traceparent: null,
        }),
      );
      await saga.apply(tx, events, () => undefined);
    });
  try {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      ids.push(id);
      await pool.query(
        `INSERT INTO orders (id, user_id, status, saga_step, total_cents, currency, payment_token, step_deadline, updated_at)
         VALUES ($1, $2, 'PENDING', 'RESERVING_STOCK', 1999, 'EUR', 'tok_visa', now() + interval '1 hour', now())`,
        [id, randomUUID()],
      );
      await pool.query(
        'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, 1, 1999)',
        [id, randomUUID()],
      );
    }
    const outbox = (id: string) => [randomUUID(), 'orders.events', id, 'bench.step', '{}'] as const;
    // The two Prisma ways differ only in the saga's own four statements, between these.
    const prismaStep = (id: string, saga: (tx: Transaction) => Promise<unknown>) =>
      prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(LOCK_SQL, `bench:${id}`);
        await tx.$executeRawUnsafe(PROCESSED_SQL, 'bench', randomUUID());
        await saga(tx);
        await tx.$executeRawUnsafe(OUTBOX_SQL, ...outbox(id));
      });
    const ways: Record<StorageWay, (id: string) => Promise<unknown>> = {
      'prisma-models': (id) =>
        prismaStep(id, async (tx) => {
          await tx.$queryRaw`SELECT id, status, saga_step FROM orders WHERE id = ${id}::uuid FOR UPDATE`;
          await tx.orderItem.findMany({
            where: { orderId: id },
            select: { productId: true, quantity: true },
          });
          await tx.order.update({ where: { id }, data: { stepAttempts: { increment: 1 } } });
          await tx.sagaTransition.create({
            data: { orderId: id, fromStep: 'RESERVING_STOCK', toStep: 'RESERVING_STOCK', cause: 'bench' },
          });
        }),
      'prisma-sql': (id) =>
        prismaStep(id, async (tx) => {
          await tx.$queryRaw`SELECT id, status, saga_step FROM orders WHERE id = ${id}::uuid FOR UPDATE`;
          await tx.$queryRaw`SELECT product_id, quantity FROM order_items WHERE order_id = ${id}::uuid`;
          await tx.$executeRaw`UPDATE orders SET step_attempts = step_attempts + 1, updated_at = now() WHERE id = ${id}::uuid`;
          await tx.$executeRaw`INSERT INTO saga_transitions (order_id, from_step, to_step, cause)
                               VALUES (${id}::uuid, 'RESERVING_STOCK', 'RESERVING_STOCK', 'bench')`;
        }),
      saga: (id) => sagaStep([reply(id)]),
      'saga-batch': async () => undefined, // run as whole batches below
      pg: async (id) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(LOCK_SQL, [`bench:${id}`]);
          await client.query(PROCESSED_SQL, ['bench', randomUUID()]);
          await client.query('SELECT id, status, saga_step FROM orders WHERE id = $1::uuid FOR UPDATE', [id]);
          await client.query('SELECT product_id, quantity FROM order_items WHERE order_id = $1::uuid', [id]);
          await client.query(
            'UPDATE orders SET step_attempts = step_attempts + 1, updated_at = now() WHERE id = $1::uuid',
            [id],
          );
          await client.query(
            `INSERT INTO saga_transitions (order_id, from_step, to_step, cause)
             VALUES ($1::uuid, 'RESERVING_STOCK', 'RESERVING_STOCK', 'bench')`,
            [id],
          );
          await client.query(OUTBOX_SQL, [...outbox(id)]);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      },
    };
    const cpu = new Map<StorageWay, number[]>();
    const wall = new Map<StorageWay, number[]>();
    // A first pass of each warms up the JIT and Prisma's caches; it is not counted.
    const order: StorageWay[] = ['prisma-models', 'prisma-sql', 'pg', 'saga', 'saga-batch'];
    for (let round = 0; round <= rounds; round++) {
      for (const way of order) {
        if (way === 'saga' || way === 'saga-batch') await rewind(ids);
        const started = process.cpuUsage();
        const t0 = performance.now();
        if (way === 'saga-batch') {
          for (let i = 0; i < ids.length; i += SAGA_BATCH)
            await sagaStep(ids.slice(i, i + SAGA_BATCH).map(reply));
        } else for (const id of ids) await ways[way](id);
        const used = process.cpuUsage(started);
        if (round === 0) continue;
        cpu.set(way, [...(cpu.get(way) ?? []), (used.user + used.system) / 1000 / n]);
        wall.set(way, [...(wall.get(way) ?? []), (performance.now() - t0) / n]);
      }
      if (round > 0) say(`orders: storage round ${round}/${rounds} done`);
    }
    return {
      transactionsPerRound: n,
      rounds,
      results: order.map((way) => ({
        way,
        cpuMsPerTransaction: latencies(cpu.get(way) ?? []).p50,
        wallMsPerTransaction: latencies(wall.get(way) ?? []).p50,
        rounds: latencies(cpu.get(way) ?? []),
      })),
    };
  } finally {
    await prisma.$disconnect();
    await database.close();
    await db.drop();
  }
}
