// The orders process: the order API, the saga's reply handlers, and the sweeper
// that acts on steps whose reply is overdue.
import { topicsOf } from '@shop/contracts';
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
import { createDatabase } from './db.js';
import { OrderWatch } from './order-watch.js';
import { DeadlineSweeper, OrderSaga } from './saga/orchestrator.js';

await serviceMain(async () => {
  const config = loadConfig(ordersEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const { database, prisma } = createDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const metrics = createRegistry(config.SERVICE_NAME);
  const saga = new OrderSaga(config.sagaTimeouts, logger, metrics);
  const watch = new OrderWatch(database.pool.options, logger);
  const inventory = new ServiceClient({
    upstream: 'inventory',
    baseUrl: config.INVENTORY_URL,
    timeoutMs: 2000,
    tokens: new ServiceTokens('orders', config.SERVICE_TOKEN_SECRETS),
    logger,
    metrics,
  });
  const app = buildApp({
    database,
    prisma,
    catalog: new Catalog(inventory),
    saga,
    watch,
    maxWaitMs: config.ORDER_WAIT_MAX,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    metrics,
  });
  app.readiness.add('inventory', inventory.describe, { critical: false });
  const sweeper = new DeadlineSweeper(saga, database, config.SAGA_SWEEP_INTERVAL, logger);
  await runDatabaseService({
    config,
    app,
    logger,
    database,
    prisma,
    consumers: [
      {
        groupId: 'orders',
        // Every topic that carries a reply of the saga's table, and the users' events.
        topics: topicsOf(saga.handling().types),
        handling: saga.handling(),
        batchSize: config.SAGA_BATCH_SIZE,
      },
    ],
    retention: [
      { table: 'idempotency_keys', column: 'created_at', keepMs: config.IDEMPOTENCY_KEY_RETENTION },
    ],
    start: () => {
      sweeper.start();
      return [{ name: 'deadline sweeper', stop: () => sweeper.stop() }];
    },
    stopBeforeDatabase: [
      { name: 'order watch', stop: () => watch.close() },
      { name: 'inventory client', stop: () => inventory.close() },
    ],
  });
});
