// A throwaway database per test file, so tests never see each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { infra } from './infra.js';

export interface TestDatabase {
  name: string;
  url: string;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(
  prefix: string,
  schemaSql: string[] = [],
  template?: string,
): Promise<TestDatabase> {
  const { adminDatabaseUrl } = infra();
  const name = `test_${prefix.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminDatabaseUrl });
  await admin.connect();
  await admin.query(template ? `CREATE DATABASE ${name} TEMPLATE ${template}` : `CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  for (const sql of schemaSql) await pool.query(sql);
  return {
    name,
    url: url.toString(),
    query: async (sql, values) => (await pool.query(sql, values)).rows,
    drop: async () => {
      await pool.end();
      const dropper = new pg.Client({ connectionString: adminDatabaseUrl });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await dropper.end();
    },
  };
}
