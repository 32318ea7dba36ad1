// The notifications process: the user and order events from Kafka, and the caller's list over HTTP.
import { createLogger, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { buildApp } from './app.js';
import { notificationsEnv } from './config.js';
import { createPrisma, type Transaction } from './db.js';
import { notificationConsumer } from './notify.js';

await serviceMain(async () => {
  const config = loadConfig(notificationsEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const prisma = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await runDatabaseService<Transaction>({
    config,
    app,
    logger,
    database: prisma,
    runInTransaction: (work) => prisma.$transaction(work),
    consumers: [notificationConsumer({ from: config.MAIL_FROM })],
  });
});
