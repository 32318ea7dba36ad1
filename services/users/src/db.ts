// The users database: one pool, used by Prisma (accounts are CRUD, not on any
// hot path) and by the platform's outbox relay.
import { PrismaPg } from '@prisma/adapter-pg';
import { Database } from '@shop/platform';
import { PrismaClient } from './generated/prisma/client.js';

export type { PrismaClient };
export type Transaction = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export function createDatabase(url: string, poolSize = 10): { database: Database; prisma: PrismaClient } {
  const database = new Database({ url, poolSize, applicationName: 'users' });
  return { database, prisma: new PrismaClient({ adapter: new PrismaPg(database.pool) }) };
}

/** A Prisma client on a pool of its own (scripts and tests). */
export function createPrisma(databaseUrl: string, poolSize = 10): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) });
}
