import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.js';

export type { PrismaClient };
export type Transaction = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export function createPrisma(databaseUrl: string, poolSize = 10): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) });
}

/**
 * The consumer's transaction. A payment command calls the provider while it
 * holds its payment row, so the transaction must outlive the slowest handler
 * (Prisma's default of 5 s does not): `timeoutMs` comes from the provider budget.
 */
export function transactions(prisma: PrismaClient, timeoutMs: number) {
  return <R>(work: (tx: Transaction) => Promise<R>): Promise<R> =>
    prisma.$transaction(work, { timeout: timeoutMs, maxWait: 5000 });
}
