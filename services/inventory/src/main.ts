// The inventory process: the catalogue over HTTP, and the saga's stock commands from Kafka.
import { createLogger, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { buildApp } from './app.js';
import { inventoryEnv } from './config.js';
import { createDatabase } from './db.js';
import { stockHandling } from './stock.js';

await serviceMain(async () => {
  const config = loadConfig(inventoryEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const { database, prisma } = createDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const app = buildApp({
    prisma,
    database,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await runDatabaseService({
    config,
    app,
    logger,
    database,
    prisma,
    consumers: [{ groupId: 'inventory', topics: ['inventory.commands'], handling: stockHandling }],
  });
});
