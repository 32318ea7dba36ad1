// A service's Postgres connections: one node-postgres pool, shared by Prisma
// (schemas, generated types, the CRUD routes, through @prisma/adapter-pg) and by
// the hot paths that speak SQL directly (the outbox, the consumers'
// transactions, the saga, reservations, payment state). A Prisma interactive
// transaction costs several times the CPU of the same statements on pg
// (bench/storage.ts shows it side by side), so everything that runs per message
// or per order goes through `transaction()` here.
import pg from 'pg';
import type { Logger } from './logging.js';

/** What a hot path needs of a connection in a transaction: node-postgres' query. */
export type Sql = Pick<pg.ClientBase, 'query'>;

export interface TransactionOptions {
  /**
   * false: COMMIT returns before the WAL is flushed. Only for transactions whose loss in a
   * Postgres crash is harmless because they are redone (the relay's "published" mark: a row
   * published again is a duplicate every consumer drops).
   */
  synchronousCommit?: boolean;
}

export interface DatabaseOptions {
  url: string;
  poolSize?: number;
  /** Shown in pg_stat_activity, so a busy connection says whose it is. */
  applicationName?: string;
  logger?: Logger;
}

export class Database {
  readonly pool: pg.Pool;

  constructor(options: DatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
    });
    // An idle connection dying (a Postgres restart) is reported by the next query that needs one.
    this.pool.on('error', (err) => options.logger?.warn({ err }, 'an idle database connection failed'));
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text as string, values);
  }

  /** Runs `work` in one transaction on one connection: committed if it resolves, rolled back if it throws. */
  async transaction<R>(work: (tx: Sql) => Promise<R>, options: TransactionOptions = {}): Promise<R> {
    const client = await this.pool.connect();
    // pg drops the pool's idle error listener on checkout; without one, a server restart mid-transaction
    // would be an uncaught 'error' event. The failing query reports the error to the caller.
    const ignore = () => undefined;
    client.on('error', ignore);
    let broken = false;
    try {
      await client.query(
        options.synchronousCommit === false ? 'BEGIN; SET LOCAL synchronous_commit TO off' : 'BEGIN',
      );
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that cannot even roll back (dead, mid-protocol) is not handed out again.
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      // A broken connection keeps the listener: its 'error' (the server's FATAL, the socket's
      // end) can arrive after this, and would otherwise be an uncaught 'error' event.
      if (!broken) client.off('error', ignore);
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
