// Every service with a database carries the platform's messaging tables: the
// Prisma models verbatim, and a migration with the outbox NOTIFY trigger.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@shop/testkit';
import { describe, expect, it } from 'vitest';

const canonical = (file: string) => readFileSync(join(repoRoot, 'packages/platform/prisma', file), 'utf8');
const servicesWithSchema = readdirSync(join(repoRoot, 'services')).filter((name) =>
  existsSync(join(repoRoot, 'services', name, 'prisma/schema')),
);

describe.each(servicesWithSchema)('%s schema', (service) => {
  const dir = join(repoRoot, 'services', service, 'prisma');

  it('has the messaging models exactly as the platform defines them', () => {
    expect(readFileSync(join(dir, 'schema/messaging.prisma'), 'utf8')).toBe(canonical('messaging.prisma'));
  });

  it('creates the outbox NOTIFY trigger in a migration', () => {
    const migrations = readdirSync(join(dir, 'migrations'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('migration.sql'))
      .map((file) => readFileSync(join(dir, 'migrations', file), 'utf8'));
    expect(migrations.some((sql) => sql.includes(canonical('outbox-notify.sql')))).toBe(true);
  });
});
