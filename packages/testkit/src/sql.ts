// A plain-pg stand-in for a Prisma transaction client, so the platform's
// messaging can be tested without any service's generated client.
import type pg from 'pg';

export interface PgTransaction {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  query: pg.PoolClient['query'];
}

export function pgTransactions(pool: pg.Pool) {
  return async function runInTransaction<R>(work: (tx: PgTransaction) => Promise<R>): Promise<R> {
    const client = await pool.connect();
    const ignore = () => undefined; // the failing query reports the error
    client.on('error', ignore);
    let broken = false;
    try {
      await client.query('BEGIN');
      const tx: PgTransaction = {
        $executeRawUnsafe: async (query, ...values) => (await client.query(query, values)).rowCount ?? 0,
        $queryRawUnsafe: async <T>(query: string, ...values: unknown[]) =>
          (await client.query(query, values)).rows as T,
        query: client.query.bind(client) as pg.PoolClient['query'],
      };
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = true;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', ignore);
      client.release(broken);
    }
  };
}
