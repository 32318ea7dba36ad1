// The process of a service that owns a database: the same on every service,
// so written once. It adds the database readiness check, starts messaging (the
// outbox relay and the service's consumers) once the server listens, and stops
// in the order that loses nothing: HTTP drained, consumers, relay, producer,
// the service's own clients, then the database.
import type { z } from 'zod';
import type { databaseEnv, kafkaEnv, serviceEnv } from './config.js';
import { databaseCheck } from './db.js';
import { runService, type StopStep } from './lifecycle.js';
import type { Logger } from './logging.js';
import type { SqlTransaction } from './outbox.js';
import { type ConsumerSpec, startMessaging } from './runtime.js';
import type { ShopServer } from './server.js';

export type DatabaseServiceConfig = z.infer<typeof serviceEnv> &
  z.infer<typeof databaseEnv> &
  z.infer<typeof kafkaEnv>;

export interface DatabaseServiceOptions<Tx extends SqlTransaction> {
  config: DatabaseServiceConfig;
  app: ShopServer;
  logger: Logger;
  /** The service's database client, disconnected last. */
  database: { $disconnect(): Promise<void> };
  runInTransaction: <R>(work: (tx: Tx) => Promise<R>) => Promise<R>;
  consumers?: ConsumerSpec<Tx>[];
  /** Started after messaging (a sweeper, a timer); their stop steps run first. */
  start?: () => Promise<StopStep[]> | StopStep[];
  /** The service's other clients, closed after the consumers and before the database. */
  stopBeforeDatabase?: StopStep[];
}

export async function runDatabaseService<Tx extends SqlTransaction>(
  options: DatabaseServiceOptions<Tx>,
): Promise<void> {
  const { config, app, logger } = options;
  const probe = databaseCheck(config.DATABASE_URL);
  app.readiness.add('database', probe.check);
  await runService({
    app,
    host: config.HOST,
    port: config.PORT,
    graceMs: config.SHUTDOWN_GRACE,
    start: async () => {
      const messaging = await startMessaging<Tx>({
        service: config.SERVICE_NAME,
        kafka: config,
        databaseUrl: config.DATABASE_URL,
        logger,
        metrics: app.metrics,
        readiness: app.readiness,
        runInTransaction: options.runInTransaction,
        consumers: options.consumers ?? [],
      });
      return [...((await options.start?.()) ?? []), ...messaging.stopSteps];
    },
    stopSteps: [
      ...(options.stopBeforeDatabase ?? []),
      { name: 'database', stop: () => options.database.$disconnect() },
      { name: 'readiness probe', stop: () => probe.close() },
    ],
  });
}
