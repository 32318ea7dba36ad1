// The process of a service that owns a database: the same on every service,
// so written once. It adds the database readiness check, starts messaging (the
// outbox relay and the service's consumers) and the pruning of old rows once
// the server listens, and stops in the order that loses nothing: HTTP drained,
// the service's own workers, consumers, relay, producer, the service's clients,
// then Prisma and the pool they share.
import type { z } from 'zod';
import type { databaseEnv, kafkaEnv, messagingEnv, serviceEnv } from './config.js';
import type { Database } from './database.js';
import { databaseCheck } from './db.js';
import { runService, type StopStep } from './lifecycle.js';
import type { Logger } from './logging.js';
import { messagingRetention, type RetentionRule, RetentionSweeper } from './retention.js';
import { type ConsumerSpec, type Messaging, startMessaging } from './runtime.js';
import type { ShopServer } from './server.js';

export type DatabaseServiceConfig = z.infer<typeof serviceEnv> &
  z.infer<typeof databaseEnv> &
  z.infer<typeof kafkaEnv> &
  z.infer<typeof messagingEnv>;

export interface DatabaseServiceOptions {
  config: DatabaseServiceConfig;
  app: ShopServer;
  logger: Logger;
  /** The service's pool, closed last. */
  database: Database;
  /** The Prisma client on that pool, disconnected before it. */
  prisma?: { $disconnect(): Promise<void> };
  consumers?: ConsumerSpec[];
  /** The service's own tables to prune, beside the messaging ones. */
  retention?: RetentionRule[];
  /** Started after messaging (a sweeper, a timer); their stop steps run first. */
  start?: (messaging: Messaging) => Promise<StopStep[]> | StopStep[];
  /** The service's other clients, closed after the consumers and before the database. */
  stopBeforeDatabase?: StopStep[];
}

export async function runDatabaseService(options: DatabaseServiceOptions): Promise<void> {
  const { config, app, logger, database } = options;
  const probe = databaseCheck(config.DATABASE_URL);
  app.readiness.add('database', probe.check);
  await runService({
    app,
    host: config.HOST,
    port: config.PORT,
    graceMs: config.SHUTDOWN_GRACE,
    blueGreen: config,
    start: async () => {
      const messaging = await startMessaging({
        service: config.SERVICE_NAME,
        kafka: config,
        database,
        logger,
        metrics: app.metrics,
        readiness: app.readiness,
        consumers: options.consumers ?? [],
      });
      const retention = new RetentionSweeper(
        database,
        [...messagingRetention(config), ...(options.retention ?? [])],
        logger,
      );
      retention.start();
      return [
        ...((await options.start?.(messaging)) ?? []),
        ...messaging.stopSteps,
        { name: 'retention', stop: () => retention.stop() },
      ];
    },
    stopSteps: [
      ...(options.stopBeforeDatabase ?? []),
      ...(options.prisma ? [{ name: 'prisma', stop: () => options.prisma!.$disconnect() }] : []),
      { name: 'database', stop: () => database.close() },
      { name: 'readiness probe', stop: () => probe.close() },
    ],
  });
}
