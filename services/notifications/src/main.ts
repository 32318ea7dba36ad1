// The notifications process: config, database, HTTP app, and the user and order events from Kafka.
import {
  createLogger,
  databaseCheck,
  failStartup,
  loadConfig,
  runService,
  startMessaging,
} from '@shop/platform';
import { buildApp } from './app.js';
import { notificationsEnv } from './config.js';
import { createPrisma, type Transaction } from './db.js';
import { notificationConsumer } from './notify.js';

try {
  const config = loadConfig(notificationsEnv);
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
      // The outbox relay runs too, though this service emits nothing yet (docs/services.md).
      const messaging = await startMessaging<Transaction>({
        service: 'notifications',
        kafka: config,
        databaseUrl: config.DATABASE_URL,
        logger,
        metrics: app.metrics,
        readiness: app.readiness,
        runInTransaction: (work) => prisma.$transaction(work),
        consumers: [notificationConsumer({ from: config.MAIL_FROM })],
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
