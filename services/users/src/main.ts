// The users process: accounts and access tokens over HTTP, and the outbox relay
// that publishes user.registered and user.deleted. It consumes nothing.
import { createLogger, loadConfig, runDatabaseService, serviceMain } from '@shop/platform';
import { buildApp } from './app.js';
import { usersEnv } from './config.js';
import { createDatabase } from './db.js';
import { signingKeySet } from './signing-keys.js';

await serviceMain(async () => {
  const config = loadConfig(usersEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const { database, prisma } = createDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const signingKeys = signingKeySet(config.USER_TOKEN_SIGNING_KEYS);
  const app = buildApp({
    prisma,
    logger,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    signingKeys,
    accessTokenTtlMs: config.ACCESS_TOKEN_TTL,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  logger.info(
    { signingKid: signingKeys.current.kid, publishedKids: signingKeys.jwks.keys.map((key) => key.kid) },
    'access token keys loaded',
  );
  await runDatabaseService({ config, app, logger, database, prisma });
});
