// Where the local infrastructure is: `.run/infra.env`, written by `make infra-up`,
// overridden by the process environment (CI or a developer pointing elsewhere).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, '.git')) && !existsSync(join(dir, 'Makefile'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root');
    dir = parent;
  }
  return dir;
})();

function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const entries = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => {
      const index = line.indexOf('=');
      return [line.slice(0, index), line.slice(index + 1)] as const;
    });
  return Object.fromEntries(entries);
}

export interface Infra {
  adminDatabaseUrl: string;
  kafkaBrokers: string[];
}

export function infra(): Infra {
  const file = readEnvFile(join(repoRoot, '.run', 'infra.env'));
  const adminDatabaseUrl =
    process.env.DATABASE_ADMIN_URL ??
    file.DATABASE_ADMIN_URL ??
    'postgres://postgres@127.0.0.1:15432/postgres';
  const brokers = process.env.KAFKA_BROKERS ?? file.KAFKA_BROKERS ?? '127.0.0.1:19092';
  return { adminDatabaseUrl, kafkaBrokers: brokers.split(',') };
}
