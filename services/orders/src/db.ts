// The orders database: one pool, used by Prisma for the order list and directly
// by the pipeline's hot path (placing, reading and waiting for orders, the saga).
import { PrismaPg } from '@prisma/adapter-pg';
import { Database } from '@shop/platform';
import { PrismaClient } from './generated/prisma/client.js';

export type { PrismaClient };

export function createDatabase(url: string, poolSize = 10): { database: Database; prisma: PrismaClient } {
  const database = new Database({ url, poolSize, applicationName: 'orders' });
  return { database, prisma: new PrismaClient({ adapter: new PrismaPg(database.pool) }) };
}
