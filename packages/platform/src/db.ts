// A readiness check for a Postgres database, on its own tiny pool so a probe
// never waits behind a saturated application pool.
import pg from 'pg';

export function databaseCheck(databaseUrl: string): {
  check: () => Promise<void>;
  close: () => Promise<void>;
} {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 1000 });
  pool.on('error', () => undefined); // an idle probe connection dying is reported by the next check
  return {
    check: async () => {
      await pool.query('SELECT 1');
    },
    close: () => pool.end(),
  };
}
