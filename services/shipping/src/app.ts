// The shipping HTTP app, built without listening so tests can drive it directly.
import { createServer, type Logger, type Registry, serviceAuth } from '@shop/platform';
import type { PrismaClient } from './db.js';
import { shipmentRoutes } from './routes/shipments.js';

export interface ShippingDeps {
  prisma: PrismaClient;
  logger: Logger;
  serviceTokenSecrets: string[];
  bodyLimit?: number;
  metrics?: Registry;
}

export function buildApp(deps: ShippingDeps) {
  const app = createServer({
    name: 'shipping',
    logger: deps.logger,
    ...(deps.bodyLimit ? { bodyLimit: deps.bodyLimit } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    openapi: { title: 'shop shipping', version: '1.0.0', description: 'Shipments of orders' },
  });
  app.register(serviceAuth, { audience: 'shipping', secrets: deps.serviceTokenSecrets });
  app.register(async (scope) => shipmentRoutes(scope, deps.prisma));
  return app;
}
