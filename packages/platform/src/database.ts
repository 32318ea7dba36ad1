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

  /**
   * Runs `work` in one transaction on one connection: committed if it resolves, rolled back if it
   * throws. BEGIN travels with the first statement when that one has no parameters (its text and
   * BEGIN go as one simple query, one round trip), and on its own before any other: on this kind
   * of machine a round trip costs a process wake-up, and those, not the SQL, are most of what a
   * message costs at moderate rates (bench/FINDINGS.md). A hot path that writes its first
   * statement with inlined literals (sqlLiteral) saves the round trip.
   */
  async transaction<R>(work: (tx: Sql) => Promise<R>, options: TransactionOptions = {}): Promise<R> {
    const begin =
      options.synchronousCommit === false ? 'BEGIN; SET LOCAL synchronous_commit TO off' : 'BEGIN';
    return this.#session(async (client) => {
      let begun = false;
      const tx: Sql = {
        query: (async (config: string | pg.QueryConfig, values?: unknown[]) => {
          if (begun) return client.query(config, values);
          begun = true;
          if (typeof config === 'string' && values === undefined) {
            // A simple query of several statements answers with one result each; the caller's is the last.
            const results = (await client.query(`${begin}; ${config}`)) as unknown as pg.QueryResult[];
            return results.at(-1);
          }
          await client.query(begin);
          return client.query(config, values);
        }) as Sql['query'],
      };
      const result = await work(tx);
      if (begun) await client.query('COMMIT');
      return result;
    });
  }

  /**
   * One connection for `work`, which begins and ends its own transaction; a throw rolls back
   * whatever it left open. For a hot path that folds BEGIN and COMMIT into its own statements.
   */
  session<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    return this.#session(work);
  }

  async #session<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await this.pool.connect();
    // pg drops the pool's idle error listener on checkout; without one, a server restart mid-transaction
    // would be an uncaught 'error' event. The failing query reports the error to the caller.
    const ignore = () => undefined;
    client.on('error', ignore);
    let broken = false;
    try {
      return await work(client);
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

/**
 * A value written into SQL text, for the statement that travels with BEGIN (which cannot carry
 * parameters): strings quoted by node-postgres' escapeLiteral, integers checked, arrays as ARRAY[...].
 */
export function sqlLiteral(value: string | number | bigint | readonly (string | number | bigint)[]): string {
  if (Array.isArray(value)) return `ARRAY[${value.map((item) => sqlLiteral(item)).join(',')}]`;
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if (typeof value === 'bigint' || Number.isSafeInteger(value)) return String(value);
  throw new TypeError(`not an integer for SQL text: ${String(value)}`);
}
