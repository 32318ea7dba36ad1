// The gateway's environment: the platform's service and Kafka variables, where
// the upstreams are, how user tokens are checked, and the edge limits.
import { type ServiceName, system } from '@shop/contracts';
import { duration, flags, kafkaEnv, serviceEnv } from '@shop/platform';
import { z } from 'zod';
import { UPSTREAMS, type Upstream } from './routes.js';

const url = z.url({ protocol: /^https?$/ });
const positiveInt = z.coerce.number().int().positive();
const list = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

type UpstreamUrlVariable = (typeof system.gateway.calls)[keyof typeof system.gateway.calls];

const upstreamUrls = Object.fromEntries(
  Object.entries(system.gateway.calls).map(([upstream, variable]) => [
    variable,
    url.default(`http://127.0.0.1:${system[upstream as ServiceName].port}`),
  ]),
) as Record<UpstreamUrlVariable, z.ZodDefault<typeof url>>;

/** The base URL of each upstream, from its variable. */
export function upstreamUrlsOf(config: GatewayConfig): Record<Upstream, string> {
  return Object.fromEntries(
    UPSTREAMS.map((upstream) => [upstream, config[system.gateway.calls[upstream]]]),
  ) as Record<Upstream, string>;
}

export const gatewayEnv = serviceEnv.extend(kafkaEnv.shape).extend({
  /** Smaller than the services' default: the gateway is where abuse is turned away. */
  BODY_LIMIT_BYTES: positiveInt.default(65_536),

  /** Where each upstream is: USERS_URL, INVENTORY_URL, ... (packages/contracts' system.ts), local defaults. */
  ...upstreamUrls,
  /** Where the users service publishes its signing keys; defaults to `<USERS_URL>/.well-known/jwks.json`. */
  JWKS_URL: url.optional(),
  /** A JWKS fetch is not repeated within this time, even for an unknown key id. */
  JWKS_COOLDOWN: duration.prefault('30s'),
  /** Keys are refetched once they are this old. */
  JWKS_MAX_AGE: duration.prefault('10m'),

  ACCESS_TOKEN_ISSUER: z.string().min(1).default('shop-users'),
  ACCESS_TOKEN_AUDIENCE: z.string().min(1).default('shop'),
  /** Lifetime of the users service's access tokens: how long a deleted user stays deny-listed. */
  ACCESS_TOKEN_TTL: duration.prefault('15m'),

  /**
   * Rate limiting on or off. Off exists to measure what the limiter costs (make bench);
   * a public deployment keeps it on.
   */
  RATE_LIMIT_ENABLED: flags.booleanFlag.prefault('true'),
  /** Requests per minute per signed-in user. */
  RATE_LIMIT_PER_MINUTE: positiveInt.default(300),
  /** Requests per minute per client IP without a (valid) token; defaults to RATE_LIMIT_PER_MINUTE. */
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: positiveInt.optional(),
  /** Requests per minute per client IP to POST /api/v1/auth/login and /register (brute force). */
  AUTH_RATE_LIMIT_PER_MINUTE: positiveInt.default(10),
  /** Rate-limit counters kept in memory (LRU); beyond this, the least recent clients are forgotten. */
  RATE_LIMIT_CACHE_SIZE: positiveInt.default(50_000),
  /** Reverse proxies in front of the gateway whose X-Forwarded-For entries are trusted (0: none). */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).default(0),

  /** Comma-separated origins allowed by CORS; empty: no CORS headers at all. */
  CORS_ORIGINS: list,

  /** Deadline for an upstream's response headers, and between body chunks. */
  UPSTREAM_TIMEOUT: duration.prefault('10s'),
  /** Keep-alive connections per upstream. */
  UPSTREAM_CONNECTIONS: positiveInt.default(128),
  /**
   * The oldest kept answer a catalogue read (GET /api/v1/products, /api/v1/products/:id) is answered
   * with when inventory cannot answer (or its breaker is open), marked with Age and Cache-Status.
   */
  STALE_READ_MAX_AGE: duration.prefault('5m'),
  /** Catalogue answers kept for that (least recently stored forgotten first), and their bytes in all. */
  STALE_READ_CACHE_ENTRIES: positiveInt.default(1000),
  STALE_READ_CACHE_BYTES: positiveInt.default(16 * 1024 * 1024),
  /** How long the aggregated OpenAPI document is served before the upstreams are asked again. */
  OPENAPI_CACHE_TTL: duration.prefault('30s'),
  /** Serve /docs (Swagger UI). */
  DOCS_ENABLED: flags.booleanFlag.prefault('true'),
});

export type GatewayConfig = z.infer<typeof gatewayEnv>;
