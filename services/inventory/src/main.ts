// The inventory process: config, database, HTTP app, and the saga's stock commands from Kafka.
import {
  createLogger,
  databaseCheck,
  failStartup,
  loadConfig,
  runService,
  startMessaging,
} from '@shop/platform';
import { buildApp } from './app.js';
import { inventoryEnv } from './config.js';
import { createPrisma, type Transaction } from './db.js';
import { stockHandlers } from './stock.js';

try {
  const config = loadConfig(inventoryEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const prisma = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const database = databaseCheck(config.DATABASE_URL);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  app.readiness.add('database', database.check);

  await runService({
    app,
    host: config.HOST,
    port: config.PORT,
    graceMs: config.SHUTDOWN_GRACE,
    start: async () => {
      const messaging = await startMessaging<Transaction>({
        service: 'inventory',
        kafka: config,
        databaseUrl: config.DATABASE_URL,
        logger,
        metrics: app.metrics,
        readiness: app.readiness,
        runInTransaction: (work) => prisma.$transaction(work),
        consumers: [{ groupId: 'inventory', topics: ['inventory.commands'], handlers: stockHandlers }],
      });
      return messaging.stopSteps;
    },
    stopSteps: [
      { name: 'database', stop: () => prisma.$disconnect() },
      { name: 'readiness probe', stop: () => database.close() },
    ],
  });
} catch (error) {
  failStartup(error);
}
