// What one saga step costs the orders service's CPU, by the way it reaches
// Postgres: the same seven statements (lock, processed message, locked read,
// items, update, history, outbox) in one transaction, written (a) with Prisma
// model queries in an interactive transaction, as the saga was first written,
// (b) as SQL through the same Prisma transaction, as it is now, and (c) with
// node-postgres alone, the floor. Postgres does the same work in all three; the
// difference is this process's CPU. The three take turns round after round.
import { randomUUID } from 'node:crypto';
import { createServiceDatabase } from '@shop/testkit';
import pg from 'pg';
import { createPrisma, type Transaction } from '../services/orders/src/db.js';
import { type Latencies, latencies } from './lib/stats.js';

// The statements all three ways send as the same text: the consumer's lock and processed row, the outbox row.
const LOCK_SQL = 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))';
const PROCESSED_SQL =
  'INSERT INTO processed_messages (consumer_group, message_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING';
const OUTBOX_SQL =
  'INSERT INTO outbox (message_id, topic, key, type, payload) VALUES ($1::uuid, $2, $3, $4, $5::jsonb)';

export type StorageWay = 'prisma-models' | 'prisma-sql' | 'pg';

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
  const prisma = createPrisma(db.url, 2);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
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
    for (let round = 0; round <= rounds; round++) {
      for (const way of Object.keys(ways) as StorageWay[]) {
        const started = process.cpuUsage();
        const t0 = performance.now();
        for (const id of ids) await ways[way](id);
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
      results: (Object.keys(ways) as StorageWay[]).map((way) => ({
        way,
        cpuMsPerTransaction: latencies(cpu.get(way) ?? []).p50,
        wallMsPerTransaction: latencies(wall.get(way) ?? []).p50,
        rounds: latencies(cpu.get(way) ?? []),
      })),
    };
  } finally {
    await prisma.$disconnect();
    await pool.end();
    await db.drop();
  }
}
