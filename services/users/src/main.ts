// The users process: config, database, HTTP app, and the outbox relay that
// publishes user.registered and user.deleted. It consumes nothing.
import {
  createLogger,
  databaseCheck,
  failStartup,
  loadConfig,
  runService,
  startMessaging,
} from '@shop/platform';
import { buildApp } from './app.js';
import { usersEnv } from './config.js';
import { createPrisma, type Transaction } from './db.js';
import { signingKeySet } from './signing-keys.js';

try {
  const config = loadConfig(usersEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const prisma = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const database = databaseCheck(config.DATABASE_URL);
  const signingKeys = signingKeySet(config.USER_TOKEN_SIGNING_KEYS);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    signingKeys,
    accessTokenTtlMs: config.ACCESS_TOKEN_TTL,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  app.readiness.add('database', database.check);
  logger.info(
    { signingKid: signingKeys.current.kid, publishedKids: signingKeys.jwks.keys.map((key) => key.kid) },
    'access token keys loaded',
  );

  await runService({
    app,
    host: config.HOST,
    port: config.PORT,
    graceMs: config.SHUTDOWN_GRACE,
    start: async () => {
      const messaging = await startMessaging<Transaction>({
        service: 'users',
        kafka: config,
        databaseUrl: config.DATABASE_URL,
        logger,
        metrics: app.metrics,
        readiness: app.readiness,
        runInTransaction: (work) => prisma.$transaction(work),
        consumers: [],
      });
      return messaging.stopSteps;
    },
    stopSteps: [
      { name: 'database', stop: () => prisma.$disconnect() },
      { name: 'readiness probe', stop: () => database.close() },
    ],
  });
} catch (error) {
  failStartup(error);
}
