// The orders HTTP app, built without listening so tests can drive it directly.
import { createServer, type Logger, type Registry, serviceAuth } from '@shop/platform';
import { type OrderRouteDeps, orderRoutes } from './routes/orders.js';

export interface OrdersDeps extends OrderRouteDeps {
  logger: Logger;
  serviceTokenSecrets: string[];
  bodyLimit?: number;
  metrics?: Registry;
}

export function buildApp(deps: OrdersDeps) {
  const app = createServer({
    name: 'orders',
    logger: deps.logger,
    ...(deps.bodyLimit ? { bodyLimit: deps.bodyLimit } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    openapi: { title: 'shop orders', version: '1.0.0', description: 'Orders and their saga' },
  });
  app.register(serviceAuth, { audience: 'orders', secrets: deps.serviceTokenSecrets });
  app.register(async (scope) => orderRoutes(scope, deps));
  return app;
}
