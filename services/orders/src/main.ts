// The orders process: the order API, the saga's reply handlers, and the sweeper
// that acts on steps whose reply is overdue.
import {
  createLogger,
  createRegistry,
  loadConfig,
  runDatabaseService,
  ServiceClient,
  ServiceTokens,
  serviceMain,
} from '@shop/platform';
import { buildApp } from './app.js';
import { Catalog } from './catalog.js';
import { ordersEnv } from './config.js';
import { createPrisma, type Transaction } from './db.js';
import { DeadlineSweeper, OrderSaga } from './saga/orchestrator.js';

await serviceMain(async () => {
  const config = loadConfig(ordersEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const prisma = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const metrics = createRegistry(config.SERVICE_NAME);
  const saga = new OrderSaga(
    {
      reserveMs: config.SAGA_RESERVE_TIMEOUT,
      authorizeMs: config.SAGA_AUTHORIZE_TIMEOUT,
      captureMs: config.SAGA_CAPTURE_TIMEOUT,
      compensationMs: config.SAGA_COMPENSATION_TIMEOUT,
      compensationMaxMs: config.SAGA_COMPENSATION_MAX_BACKOFF,
    },
    logger,
    metrics,
  );
  const inventory = new ServiceClient({
    upstream: 'inventory',
    baseUrl: config.INVENTORY_URL,
    timeoutMs: 2000,
    tokens: new ServiceTokens('orders', config.SERVICE_TOKEN_SECRETS),
    logger,
    metrics,
  });
  const app = buildApp({
    prisma,
    catalog: new Catalog(inventory),
    saga,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    metrics,
  });
  app.readiness.add('inventory', inventory.describe, { critical: false });
  const sweeper = new DeadlineSweeper(saga, prisma, config.SAGA_SWEEP_INTERVAL, logger);
  await runDatabaseService<Transaction>({
    config,
    app,
    logger,
    database: prisma,
    runInTransaction: (work) => prisma.$transaction(work),
    consumers: [
      {
        groupId: 'orders',
        topics: ['inventory.replies', 'payments.replies', 'users.events'],
        handlers: saga.handlers(),
        batchSize: config.SAGA_BATCH_SIZE,
      },
    ],
    start: () => {
      sweeper.start();
      return [{ name: 'deadline sweeper', stop: () => sweeper.stop() }];
    },
    stopBeforeDatabase: [{ name: 'inventory client', stop: () => inventory.close() }],
  });
});
