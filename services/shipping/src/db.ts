// The shipping database: one pool, used by Prisma for the support route and
// directly by the saga's commands (shipments.ts).
import { PrismaPg } from '@prisma/adapter-pg';
import { Database } from '@shop/platform';
import { PrismaClient } from './generated/prisma/client.js';

export type { PrismaClient };

export function createDatabase(url: string, poolSize = 10): { database: Database; prisma: PrismaClient } {
  const database = new Database({ url, poolSize, applicationName: 'shipping' });
  return { database, prisma: new PrismaClient({ adapter: new PrismaPg(database.pool) }) };
}
