// The payments process: the saga's payment commands from Kafka, carried out at
// the card provider after they are recorded, and the payment of an order over HTTP.
import { createLogger, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { attachProvider, buildApp } from './app.js';
import { paymentsEnv } from './config.js';
import { createDatabase } from './db.js';
import { PaymentOperations } from './operations.js';
import { leaseFor } from './provider/budget.js';

await serviceMain(async () => {
  const config = loadConfig(paymentsEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const { database, prisma } = createDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
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
  const operations = new PaymentOperations({
    database,
    provider,
    logger,
    metrics: app.metrics,
    leaseMs: leaseFor(config.PROVIDER_TIMEOUT, config.PROVIDER_RETRIES),
    concurrency: config.PROVIDER_CONCURRENCY,
    sweepIntervalMs: config.PAYMENT_SWEEP_INTERVAL,
  });
  await runDatabaseService({
    config,
    app,
    logger,
    database,
    prisma,
    consumers: [{ groupId: 'payments', topics: ['payments.commands'], handling: operations.handling }],
    start: () => {
      operations.start();
      return [];
    },
    // After the consumers: operations started by their last chunks finish and are recorded.
    stopBeforeDatabase: [
      { name: 'payment operations', stop: () => operations.stop() },
      { name: 'payment provider client', stop: () => provider.close() },
    ],
  });
});
