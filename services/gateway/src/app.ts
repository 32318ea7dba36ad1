// The gateway's HTTP app, built without listening so tests can drive it: the
// platform server, security headers, CORS, rate limits, the docs, and the
// proxied API.
import fastifyCors from '@fastify/cors';
import fastifyRateLimit from '@fastify/rate-limit';
import { Counter, createServer, Gauge, type Logger, Problem, ServiceTokens } from '@shop/platform';
import type { FastifyRequest } from 'fastify';
import type { JWTVerifyGetKey } from 'jose';
import { Pool } from 'undici';
import { AccessTokens } from './access-tokens.js';
import { clientIp } from './client-ip.js';
import { DenyList } from './deny-list.js';
import { docsRoutes } from './docs.js';
import { OpenApiAggregator, type OpenApiDocument } from './openapi.js';
import { proxyRoutes } from './proxy.js';
import { prefixesOf, UPSTREAMS, type Upstream } from './routes.js';
import { HELMET_OPTIONS, securityHeaders } from './security-headers.js';
import { UpstreamCredentials } from './upstream-credentials.js';

export interface RateLimits {
  /** Per signed-in user and window. */
  perUser: number;
  /** Per client IP and window, without a valid token. */
  perIp: number;
  /** Per client IP and window, POST /api/v1/auth/login and /register. */
  auth: number;
  windowMs?: number;
  /** Counters kept (LRU). */
  cacheSize?: number;
}

export interface GatewayDeps {
  logger: Logger;
  /** Base URLs of the services, e.g. `{ users: 'http://127.0.0.1:8081', ... }`. */
  upstreams: Record<Upstream, string>;
  /** Resolves the users service's signing keys (createRemoteJWKSet in the process). */
  jwks: JWTVerifyGetKey;
  accessTokenIssuer?: string;
  accessTokenAudience?: string;
  serviceTokenSecrets: string[];
  /** Fed by the deny-list feed; an empty one when not given. */
  denyList?: DenyList;
  /** Off only to measure what the limiter costs; on when not given. */
  rateLimiting?: boolean;
  rateLimits?: Partial<RateLimits>;
  trustedProxyHops?: number;
  corsOrigins?: string[];
  bodyLimit?: number;
  upstreamTimeoutMs?: number;
  upstreamConnections?: number;
  openapiCacheTtlMs?: number;
  docs?: boolean;
  /** The reads answered stale when their service cannot answer (the catalogue): how stale at most, how many kept. */
  staleReads?: { maxStaleMs: number; maxEntries: number; maxBytes: number };
}

export const DEFAULT_STALE_READS = { maxStaleMs: 5 * 60_000, maxEntries: 1000, maxBytes: 16 * 1024 * 1024 };

export const DEFAULT_RATE_LIMITS: RateLimits = { perUser: 300, perIp: 300, auth: 10, windowMs: 60_000 };

const INFO: OpenApiDocument['info'] = {
  title: 'shop API',
  version: '1.0.0',
  description:
    'The public API of shop, as served by the gateway. Sign in with POST /api/v1/auth/login and send ' +
    'the access token as `Authorization: Bearer <token>`.',
};

const UNLIMITED = /^\/(health\/|metrics$)/;

export function buildApp(deps: GatewayDeps) {
  // The proxied API's methods come from the aggregated document (made below).
  let aggregator: OpenApiAggregator | undefined;
  const allowedMethodsAt = (path: string) => aggregator?.allowedMethodsAt(path);
  const app = createServer({
    name: 'gateway',
    logger: deps.logger,
    bodyLimit: deps.bodyLimit ?? 65_536,
    allowedMethodsAt,
  });
  const denyList = deps.denyList ?? new DenyList(15 * 60_000);
  const limits = { ...DEFAULT_RATE_LIMITS, ...deps.rateLimits };
  const hops = deps.trustedProxyHops ?? 0;
  const clientIpOf = (request: Pick<FastifyRequest, 'ip' | 'headers'>) =>
    hops === 0 ? request.ip : clientIp(request.ip, request.headers['x-forwarded-for'], hops);

  // One keep-alive pool per service, shared by the proxy and the OpenAPI fetches.
  const timeout = deps.upstreamTimeoutMs ?? 10_000;
  const pools = Object.fromEntries(
    UPSTREAMS.map((upstream) => [
      upstream,
      new Pool(deps.upstreams[upstream], {
        connections: deps.upstreamConnections ?? 128,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 120_000,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connect: { timeout: 3000 },
      }),
    ]),
  ) as Record<Upstream, Pool>;
  app.addHook('onClose', async () => {
    await Promise.all(Object.values(pools).map((pool) => pool.close()));
  });

  app.decorateRequest('routePolicy', null);
  app.decorateRequest('gatewayUser', null);
  app.decorateRequest('authFailure', null);
  app.decorateRequest('upstreamAuthorization', null);

  const limited = new Counter({
    name: 'gateway_rate_limited_total',
    help: 'Requests refused by the rate limit, by bucket (user, ip, auth).',
    labelNames: ['bucket'],
    registers: [app.metrics],
  });
  new Gauge({
    name: 'gateway_deny_list_entries',
    help: 'Deleted users whose tokens the gateway refuses.',
    registers: [app.metrics],
    collect() {
      this.set(denyList.size);
    },
  });

  const headers = securityHeaders(HELMET_OPTIONS);
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });

  const origins = deps.corsOrigins ?? [];
  if (origins.length > 0) {
    app.register(fastifyCors, {
      origin: origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'authorization',
        'content-type',
        'idempotency-key',
        'x-request-id',
        'traceparent',
        'tracestate',
      ],
      exposedHeaders: [
        'location',
        'retry-after',
        'x-request-id',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    });
  }

  // Keys: `u:<id>` per signed-in user, `i:<ip>` per address otherwise, and
  // `a:<ip>` for sign-in and sign-up whoever asks. The user is known here: the
  // limiter runs as a route hook, after the proxy scope has read the token.
  const BUCKET = { u: 'user', i: 'ip', a: 'auth' } as const;
  if (deps.rateLimiting !== false) {
    app.register(fastifyRateLimit, {
      global: true,
      hook: 'onRequest',
      timeWindow: limits.windowMs ?? 60_000,
      cache: limits.cacheSize ?? 50_000,
      allowList: (request) => UNLIMITED.test(request.url),
      keyGenerator: (request) => {
        if (request.routePolicy?.bucket === 'auth') return `a:${clientIpOf(request)}`;
        const user = request.gatewayUser;
        return user ? `u:${user.id}` : `i:${clientIpOf(request)}`;
      },
      max: (_request, key) => (key[0] === 'u' ? limits.perUser : key[0] === 'a' ? limits.auth : limits.perIp),
      onExceeded: (_request, key) => limited.inc({ bucket: BUCKET[key[0] as keyof typeof BUCKET] ?? 'ip' }),
      errorResponseBuilder: (_request, context) =>
        new Problem(context.statusCode, 'rate-limited', `Too many requests; retry in ${context.after}.`),
    });
  }

  aggregator = new OpenApiAggregator({
    sources: UPSTREAMS.map((upstream) => ({
      upstream,
      prefixes: prefixesOf(upstream),
      dispatcher: pools[upstream],
    })),
    info: INFO,
    ttlMs: deps.openapiCacheTtlMs ?? 30_000,
    logger: deps.logger,
  });
  app.register(docsRoutes, { aggregator, info: INFO, swaggerUi: deps.docs ?? true, helmet: HELMET_OPTIONS });

  const accessTokens = new AccessTokens({
    jwks: deps.jwks,
    issuer: deps.accessTokenIssuer ?? 'shop-users',
    audience: deps.accessTokenAudience ?? 'shop',
  });
  app.register(proxyRoutes, {
    pools,
    accessTokens,
    denyList,
    credentials: new UpstreamCredentials(new ServiceTokens('gateway', deps.serviceTokenSecrets)),
    clientIpOf,
    allowedMethodsAt,
    metrics: app.metrics,
    // The proxied answer bypasses the onSend hook that says so for the rest (server.ts): stopping,
    // or no longer the active color (traffic-selection.ts), keep-alive clients must move on.
    closing: () => app.readiness.shuttingDown || !app.traffic.selected,
    staleReads: deps.staleReads ?? DEFAULT_STALE_READS,
    logger: deps.logger,
  });

  return app;
}

export type GatewayApp = ReturnType<typeof buildApp>;
