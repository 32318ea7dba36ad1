// The gateway process: config, the users service's key set, the deny-list fed
// from Kafka, and the HTTP app. Kafka being down does not stop it from
// starting; it reports not-ready until the deny-list has caught up.
import { createLogger, failStartup, loadConfig, runService } from '@shop/platform';
import { createRemoteJWKSet } from 'jose';
import { buildApp } from './app.js';
import { gatewayEnv, upstreamUrlsOf } from './config.js';
import { DenyList } from './deny-list.js';
import { DenyListFeed } from './deny-list-feed.js';

// Tokens are accepted this far past their expiry, and clocks differ: keep deleted users a little longer.
const CLOCK_SKEW_MS = 60_000;

try {
  const config = loadConfig(gatewayEnv);
  const logger = createLogger({ name: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const jwksUrl = new URL(config.JWKS_URL ?? '/.well-known/jwks.json', config.USERS_URL);
  const jwks = createRemoteJWKSet(jwksUrl, {
    cooldownDuration: config.JWKS_COOLDOWN,
    cacheMaxAge: config.JWKS_MAX_AGE,
    timeoutDuration: 3000,
  });
  const retentionMs = config.ACCESS_TOKEN_TTL + CLOCK_SKEW_MS;
  const denyList = new DenyList(retentionMs);

  const app = buildApp({
    logger,
    upstreams: upstreamUrlsOf(config),
    jwks,
    accessTokenIssuer: config.ACCESS_TOKEN_ISSUER,
    accessTokenAudience: config.ACCESS_TOKEN_AUDIENCE,
    serviceTokenSecrets: config.SERVICE_TOKEN_SECRETS,
    denyList,
    rateLimiting: config.RATE_LIMIT_ENABLED,
    rateLimits: {
      perUser: config.RATE_LIMIT_PER_MINUTE,
      perIp: config.RATE_LIMIT_ANONYMOUS_PER_MINUTE ?? config.RATE_LIMIT_PER_MINUTE,
      auth: config.AUTH_RATE_LIMIT_PER_MINUTE,
      windowMs: 60_000,
      cacheSize: config.RATE_LIMIT_CACHE_SIZE,
    },
    trustedProxyHops: config.TRUSTED_PROXY_HOPS,
    corsOrigins: config.CORS_ORIGINS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT,
    upstreamConnections: config.UPSTREAM_CONNECTIONS,
    openapiCacheTtlMs: config.OPENAPI_CACHE_TTL,
    staleReads: {
      maxStaleMs: config.STALE_READ_MAX_AGE,
      maxEntries: config.STALE_READ_CACHE_ENTRIES,
      maxBytes: config.STALE_READ_CACHE_BYTES,
    },
    docs: config.DOCS_ENABLED,
  });

  const feed = new DenyListFeed({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? config.SERVICE_NAME,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    partitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    denyList,
    lookbackMs: retentionMs,
    logger,
    metrics: app.metrics,
  });
  app.readiness.add('deny-list', feed.check);
  // Not critical: cached keys keep working while users is away; this only reports.
  app.readiness.add('jwks', async () => ({ keys: jwks.jwks()?.keys.length ?? 0, fresh: jwks.fresh }), {
    critical: false,
  });

  await runService({
    app,
    host: config.HOST,
    port: config.PORT,
    graceMs: config.SHUTDOWN_GRACE,
    blueGreen: config,
    start: async () => {
      // Fetch the keys now rather than on the first signed-in request; users may not be up yet.
      jwks.reload().catch((error: unknown) => logger.warn({ err: error }, 'signing keys not fetched yet'));
      feed.start();
      return [{ name: 'deny-list feed', stop: () => feed.stop() }];
    },
  });
} catch (error) {
  failStartup(error);
}
