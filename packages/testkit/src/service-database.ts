// A fresh database with a service's real migrations applied by the real
// `prisma migrate deploy`. Migrating is slow (the CLI lingers ~10 s after it is
// done), so each service's migrations are applied once into a template database
// named after their content hash; every test file then gets a copy of it,
// which Postgres makes in a fraction of a second.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './database.js';
import { infra, repoRoot } from './infra.js';

function migrationsHash(service: string): string {
  const dir = join(repoRoot, 'services', service, 'prisma', 'migrations');
  const hash = createHash('sha256');
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    if (entry.endsWith('.sql')) hash.update(entry).update(readFileSync(join(dir, entry)));
  }
  return hash.digest('hex').slice(0, 12);
}

function databaseUrl(name: string): string {
  const url = new URL(infra().adminDatabaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `prisma migrate deploy` for a service against a database; resolves once it reports success. */
export function migrateDeploy(service: string, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'node_modules/prisma/build/index.js'), 'migrate', 'deploy'],
      {
        cwd: join(repoRoot, 'services', service),
        env: { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk;
      // The CLI keeps running for a while after it is done; there is no need to wait for that.
      if (/successfully applied|No pending migrations to apply/.test(output)) {
        child.kill();
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      if (/successfully applied|No pending migrations to apply/.test(output)) resolve();
      else reject(new Error(`prisma migrate deploy for ${service} failed (exit ${code}):\n${output}`));
    });
  });
}

async function ensureTemplate(service: string): Promise<string> {
  const template = `tpl_${service}_${migrationsHash(service)}`;
  const admin = new pg.Client({ connectionString: infra().adminDatabaseUrl });
  await admin.connect();
  try {
    // Test files run in parallel workers: one builds the template, the others wait for it.
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [template]);
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (exists.rowCount === 0) {
      const building = `${template}_building`;
      await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${building}`);
      await migrateDeploy(service, databaseUrl(building));
      await admin.query(`ALTER DATABASE ${building} RENAME TO ${template}`);
    }
    return template;
  } finally {
    await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [template]).catch(() => undefined);
    await admin.end();
  }
}

/** A new database holding the service's schema, from its real migrations. */
export async function createServiceDatabase(service: string): Promise<TestDatabase> {
  const template = await ensureTemplate(service);
  return createTestDatabase(service, [], template);
}
