// The public surface: which path prefix goes to which service, and which
// requests are served without a signed-in user. Pure, so the policy can be read
// (and tested) in one place.

import { type GatewayUpstream, gatewayRoutes, gatewayUpstreams } from '@shop/contracts';

/** The services behind the gateway (packages/contracts' system.ts); each name is also the audience of its service tokens. */
export const UPSTREAMS = gatewayUpstreams;
export type Upstream = GatewayUpstream;

/** Prefixes are forwarded unchanged: the services serve the same `/api/v1/...` and `/api/v2/...` paths. */
export const ROUTES = gatewayRoutes;

export function prefixesOf(upstream: Upstream): string[] {
  return ROUTES.filter((route) => route.upstream === upstream).map((route) => route.prefix);
}

/** Rate-limit buckets: `auth` is the strict per-IP one for sign-in and sign-up. */
export type Bucket = 'auth' | 'api';

export interface RoutePolicy {
  /** Served without a token (a valid token is still used when sent). */
  public: boolean;
  bucket: Bucket;
}

// Proxied requests only: the gateway's own routes (/health/*, /metrics,
// /openapi.json, /docs) never need a token. Matched against the raw path, exactly as the router and the upstream will see
// it, so an encoded or doubled slash can only make a request less public.
const PUBLIC: readonly { methods: ReadonlySet<string>; path: RegExp }[] = [
  { methods: new Set(['GET', 'HEAD']), path: /^\/api\/v1\/products(\/[^/]+)?$/ },
  { methods: new Set(['POST']), path: /^\/api\/v1\/auth\/(login|register)$/ },
];

// Reads that may be answered stale when their service cannot answer
// (stale-read-fallback.ts): the public catalogue, the same for everyone. Never a
// write, never anything per user; the prices an order is placed at are read by
// orders from inventory directly, never from here.
const STALE_READABLE = /^\/api\/v1\/products(\/[^/]+)?$/;

/** Whether a kept answer may stand in for this request's when its service cannot answer. */
export function staleReadable(method: string, url: string): boolean {
  return method === 'GET' && STALE_READABLE.test(pathOf(url));
}

const AUTH_BUCKET = /^\/api\/v1\/auth\/(login|register)$/;
const PUBLIC_API: RoutePolicy = { public: true, bucket: 'api' };
const PUBLIC_AUTH: RoutePolicy = { public: true, bucket: 'auth' };
const PROTECTED_API: RoutePolicy = { public: false, bucket: 'api' };
const PROTECTED_AUTH: RoutePolicy = { public: false, bucket: 'auth' };

export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * The policy for a request. The strict bucket is chosen on the path as the
 * upstream's router will decode it (`/api/v1/auth/%6Cogin` is still login), so
 * encoding a path cannot escape the brute-force limit.
 */
export function policyFor(method: string, url: string): RoutePolicy {
  const path = pathOf(url);
  const isPublic = PUBLIC.some((rule) => rule.methods.has(method) && rule.path.test(path));
  const auth = method === 'POST' && path.startsWith('/api/v1/auth/') && AUTH_BUCKET.test(normalise(path));
  if (isPublic) return auth ? PUBLIC_AUTH : PUBLIC_API;
  return auth ? PROTECTED_AUTH : PROTECTED_API;
}

function normalise(path: string): string {
  let decoded = path;
  if (path.includes('%')) {
    try {
      decoded = decodeURIComponent(path);
    } catch {
      // Undecodable: the upstream router will not match it either.
    }
  }
  return decoded.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
}
