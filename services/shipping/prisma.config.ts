// Prisma CLI configuration (Prisma 6.19, driver-adapter mode): every migrate
// command runs the WASM schema engine bundled in the `prisma` package and talks
// to Postgres through @prisma/adapter-pg, so nothing is downloaded and no
// native engine binary is needed. docs/prisma.md explains the route.
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

const databaseUrl = process.env.DATABASE_URL;

// schema.prisma says `url = env("DATABASE_URL")`, which the CLI must resolve to read the
// generator's engineType; generating needs no database, so a placeholder does.
process.env.DATABASE_URL ??= 'postgresql://unset@127.0.0.1:1/unset';
// No update check or telemetry call to Prisma's servers from any CLI run.
process.env.CHECKPOINT_DISABLE ??= '1';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema',
  migrations: { path: 'prisma/migrations' },
  async adapter() {
    if (!databaseUrl) throw new Error('DATABASE_URL must point at the database to migrate');
    return new PrismaPg({ connectionString: databaseUrl });
  },
});
