// The shipping process: the saga's shipping commands from Kafka, and an order's shipment over HTTP.
import { createLogger, createRegistry, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { buildApp } from './app.js';
import { shippingEnv } from './config.js';
import { createDatabase } from './db.js';
import { shippingHandling } from './shipments.js';

await serviceMain(async () => {
  const config = loadConfig(shippingEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const { database, prisma } = createDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const metrics = createRegistry(config.SERVICE_NAME);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    metrics,
  });
  await runDatabaseService({
    config,
    app,
    logger,
    database,
    prisma,
    consumers: [{ groupId: 'shipping', topics: ['shipping.commands'], handling: shippingHandling(metrics) }],
  });
});
