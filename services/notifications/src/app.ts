// The notifications HTTP app, built without listening so tests can drive it directly.
import { createServer, type Logger, serviceAuth } from '@shop/platform';
import type { PrismaClient } from './db.js';
import { notificationRoutes } from './routes/notifications.js';

export interface NotificationsDeps {
  prisma: PrismaClient;
  logger: Logger;
  serviceTokenSecrets: string[];
  bodyLimit?: number;
}

export function buildApp(deps: NotificationsDeps) {
  const app = createServer({
    name: 'notifications',
    logger: deps.logger,
    ...(deps.bodyLimit ? { bodyLimit: deps.bodyLimit } : {}),
    openapi: {
      title: 'shop notifications',
      version: '1.0.0',
      description: 'The e-mails each customer was sent',
    },
  });
  app.register(serviceAuth, {
    audience: 'notifications',
    secrets: deps.serviceTokenSecrets,
    publicPaths: /^\/(health\/|metrics$|openapi\.json$)/,
  });
  app.register(async (scope) => notificationRoutes(scope, deps.prisma));
  return app;
}
