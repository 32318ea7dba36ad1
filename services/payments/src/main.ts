// The payments process: the saga's payment commands from Kafka, carried out at
// the card provider, and the payment of an order over HTTP.
import { createLogger, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { attachProvider, buildApp } from './app.js';
import { paymentsEnv } from './config.js';
import { createPrisma, type Transaction, transactions } from './db.js';
import { paymentHandlers } from './handlers.js';
import { commandBudgetMs } from './provider/budget.js';

await serviceMain(async () => {
  const config = loadConfig(paymentsEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const prisma = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  const provider = attachProvider(app, {
    baseUrl: config.PROVIDER_URL,
    apiKey: config.PROVIDER_API_KEY,
    timeoutMs: config.PROVIDER_TIMEOUT,
    retries: config.PROVIDER_RETRIES,
  });
  await runDatabaseService<Transaction>({
    config,
    app,
    logger,
    database: prisma,
    runInTransaction: transactions(prisma, commandBudgetMs(config.PROVIDER_TIMEOUT, config.PROVIDER_RETRIES)),
    consumers: [
      {
        groupId: 'payments',
        topics: ['payments.commands'],
        handlers: paymentHandlers(provider, app.metrics),
      },
    ],
    // After the consumers: a command in flight keeps its provider client.
    stopBeforeDatabase: [{ name: 'payment provider client', stop: () => provider.close() }],
  });
});
