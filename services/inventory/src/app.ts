// The inventory HTTP app, built without listening so tests can drive it directly.
import { createServer, type Database, type Logger, serviceAuth } from '@shop/platform';
import type { PrismaClient } from './db.js';
import { productRoutes } from './routes/products.js';

export interface InventoryDeps {
  prisma: PrismaClient;
  /** The same pool as Prisma's: the basket pricing orders asks for on every order reads through it. */
  database: Database;
  logger: Logger;
  serviceTokenSecrets: string[];
  bodyLimit?: number;
}

export function buildApp(deps: InventoryDeps) {
  const app = createServer({
    name: 'inventory',
    logger: deps.logger,
    ...(deps.bodyLimit ? { bodyLimit: deps.bodyLimit } : {}),
    openapi: { title: 'shop inventory', version: '1.0.0', description: 'Products and stock' },
  });
  app.register(serviceAuth, { audience: 'inventory', secrets: deps.serviceTokenSecrets });
  app.register(async (scope) => productRoutes(scope, deps.prisma, deps.database));
  return app;
}
