// The notifications process: the user and order events from Kafka, their mails
// sent once recorded, and the caller's list over HTTP.
import { createLogger, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { buildApp } from './app.js';
import { notificationsEnv } from './config.js';
import { createDatabase } from './db.js';
import { logMailer, Notifier } from './notify.js';

await serviceMain(async () => {
  const config = loadConfig(notificationsEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const { database, prisma } = createDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  const notifier = new Notifier({ from: config.MAIL_FROM, database, mailer: logMailer(logger), logger });
  await runDatabaseService({
    config,
    app,
    logger,
    database,
    prisma,
    consumers: [notifier.consumer()],
    start: () => {
      notifier.start(config.MAIL_SWEEP_INTERVAL);
      return [];
    },
    stopBeforeDatabase: [{ name: 'mail', stop: () => notifier.stop() }],
  });
});
