// The payments process: config, database, HTTP app, the provider client, and the
// saga's payment commands from Kafka.
import {
  createLogger,
  databaseCheck,
  failStartup,
  loadConfig,
  runService,
  startMessaging,
} from '@shop/platform';
import { attachProvider, buildApp } from './app.js';
import { paymentsEnv } from './config.js';
import { createPrisma, type Transaction, transactions } from './db.js';
import { paymentHandlers } from './handlers.js';
import { commandBudgetMs } from './provider/budget.js';

try {
  const config = loadConfig(paymentsEnv);
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
  const provider = attachProvider(app, {
    baseUrl: config.PROVIDER_URL,
    apiKey: config.PROVIDER_API_KEY,
    timeoutMs: config.PROVIDER_TIMEOUT,
    retries: config.PROVIDER_RETRIES,
  });

  await runService({
    app,
    host: config.HOST,
    port: config.PORT,
    graceMs: config.SHUTDOWN_GRACE,
    start: async () => {
      const messaging = await startMessaging<Transaction>({
        service: 'payments',
        kafka: config,
        databaseUrl: config.DATABASE_URL,
        logger,
        metrics: app.metrics,
        readiness: app.readiness,
        runInTransaction: transactions(
          prisma,
          commandBudgetMs(config.PROVIDER_TIMEOUT, config.PROVIDER_RETRIES),
        ),
        consumers: [
          {
            groupId: 'payments',
            topics: ['payments.commands'],
            handlers: paymentHandlers(provider, app.metrics),
          },
        ],
      });
      return messaging.stopSteps;
    },
    // After the consumers (their steps come first): a command in flight keeps its provider client.
    stopSteps: [
      { name: 'payment provider client', stop: () => provider.close() },
      { name: 'database', stop: () => prisma.$disconnect() },
      { name: 'readiness probe', stop: () => database.close() },
    ],
  });
} catch (error) {
  failStartup(error);
}
