// The proxied API: per request, who is calling (the access token), whether
// they may (public route or signed in, not deleted), and the forwarding itself
// (forward.ts) on keep-alive undici pools, with the client's credentials
// swapped for a service token.
//
// The scope accepts only application/json bodies, read as a Buffer under the
// body limit (so 413 and 415 come from Fastify as problems) and forwarded byte
// for byte, never parsed.
import {
  type ActingUser,
  Counter,
  type Logger,
  methodNotAllowed,
  NO_HANDLER_SPAN,
  Problem,
  problems,
  type Registry,
} from '@shop/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'undici';
import type { AccessTokens, AuthFailure, Verification } from './access-tokens.js';
import { bearerToken } from './access-tokens.js';
import type { DenyList } from './deny-list.js';
import { forward } from './forward.js';
import {
  leavesPrefix,
  type UpstreamFailure,
  upstreamFailure,
  upstreamProblem,
  upstreamRequestHeaders,
} from './forwarding.js';
import { pathOf, policyFor, ROUTES, type RoutePolicy, staleReadable, type Upstream } from './routes.js';
import { StaleReadFallback, type StaleReadOptions } from './stale-read-fallback.js';
import type { UpstreamCredentials } from './upstream-credentials.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for proxied requests. */
    routePolicy: RoutePolicy | null;
    /** The signed-in user, from a valid access token. */
    gatewayUser: ActingUser | null;
    /** Why there is no user. */
    authFailure: AuthFailure | null;
    /** The service token header for the upstream. */
    upstreamAuthorization: string | null;
  }
}

export interface ProxyOptions {
  pools: Record<Upstream, Pool>;
  accessTokens: AccessTokens;
  denyList: DenyList;
  credentials: UpstreamCredentials;
  clientIpOf: (request: Pick<FastifyRequest, 'ip' | 'headers'>) => string;
  /** The methods the API declares at a path (the aggregated OpenAPI document). */
  allowedMethodsAt: (path: string) => readonly string[] | undefined;
  metrics: Registry;
  /** True once the server is stopping. */
  closing: () => boolean;
  /** The reads that may be answered stale (routes.ts, staleReadable): how stale, how many kept. */
  staleReads: Omit<StaleReadOptions, 'upstream' | 'metrics' | 'logger'>;
  logger?: Logger;
}

/** What @fastify/http-proxy served: every method a client of the API sends. */
const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'];

const REALM = 'Bearer realm="shop"';

export function authProblem(failure: AuthFailure): Problem {
  const unauthorized = (detail: string, error?: string) =>
    new Problem(401, 'unauthorized', detail, {
      headers: {
        'www-authenticate': error ? `${REALM}, error="${error}", error_description="${detail}"` : REALM,
      },
    });
  switch (failure) {
    case 'missing':
      return unauthorized(
        'Sign in first: this endpoint needs an access token (Authorization: Bearer <token>).',
      );
    case 'malformed':
      return unauthorized('The Authorization header is not a bearer token.', 'invalid_request');
    case 'expired':
      return unauthorized('The access token has expired; sign in again.', 'invalid_token');
    case 'revoked':
      return unauthorized('The access token has been revoked.', 'invalid_token');
    case 'invalid':
      return unauthorized('The access token is not valid.', 'invalid_token');
    case 'unavailable':
      return new Problem(
        503,
        'auth-unavailable',
        'Access tokens cannot be checked right now; retry shortly.',
        {
          headers: { 'retry-after': '5' },
        },
      );
  }
}

export async function proxyRoutes(scope: FastifyInstance, options: ProxyOptions): Promise<void> {
  const { accessTokens, denyList, credentials, clientIpOf } = options;
  const rejections = new Counter({
    name: 'gateway_auth_rejections_total',
    help: 'Proxied requests refused for want of a valid access token, by reason.',
    labelNames: ['reason'],
    registers: [options.metrics],
  });
  const upstreamErrors = new Counter({
    name: 'gateway_upstream_errors_total',
    help: 'Proxied requests that got no answer from their service, by service and failure.',
    labelNames: ['upstream', 'failure'],
    registers: [options.metrics],
  });

  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  // Who is calling. Never refuses by itself: the rate limit (a route hook, so
  // it runs after this) keys on the user, and refusing comes after it, so even
  // requests with bad tokens count against the client's limit. A token seen
  // before is answered from memory without a promise (every request runs this).
  const identify = (request: FastifyRequest, verification: Verification) => {
    if (!verification.ok) request.authFailure = verification.failure;
    else if (denyList.has(verification.user.id)) request.authFailure = 'revoked';
    else request.gatewayUser = verification.user;
  };
  scope.addHook('onRequest', (request, _reply, done) => {
    // A method the path does not declare is refused before anything else: no
    // token makes it valid, and the document that says so is public.
    const path = pathOf(request.url);
    const allow = options.allowedMethodsAt(path);
    if (allow && !allow.includes(request.method)) return done(methodNotAllowed(request.method, path, allow));
    request.routePolicy = policyFor(request.method, request.url);
    const token = bearerToken(request.headers.authorization);
    if (token === null) {
      request.authFailure = 'missing';
      return done();
    }
    if (token === undefined) {
      request.authFailure = 'malformed';
      return done();
    }
    const known = accessTokens.known(token);
    if (known) {
      identify(request, known);
      return done();
    }
    accessTokens.verify(token).then((verification) => {
      identify(request, verification);
      done();
    }, done);
  });

  // Before the body is read: a request that will be refused is not worth reading.
  scope.addHook('preParsing', (request, _reply, payload, done) => {
    if (request.gatewayUser || request.routePolicy?.public) return done(null, payload);
    const failure = request.authFailure ?? 'missing';
    rejections.inc({ reason: failure });
    done(authProblem(failure));
  });

  // One fallback per service that has reads which may be answered stale, made on its first such read.
  const fallbacks = new Map<Upstream, StaleReadFallback>();
  const fallbackOf = (upstream: Upstream) => {
    let fallback = fallbacks.get(upstream);
    if (!fallback) {
      fallback = new StaleReadFallback({
        ...options.staleReads,
        upstream,
        metrics: options.metrics,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      fallbacks.set(upstream, fallback);
    }
    return fallback;
  };

  for (const route of ROUTES) {
    const upstream = route.upstream;
    const pool = options.pools[upstream];
    const problemFor = (failure: UpstreamFailure) => {
      upstreamErrors.inc({ upstream, failure });
      return upstreamProblem(upstream, failure);
    };
    const forwarding = (request: FastifyRequest, authorization: string, fail: (error: Error) => void) => ({
      pool,
      headers: upstreamRequestHeaders(request.headers, {
        authorization,
        requestId: request.id,
        clientIp: clientIpOf(request),
      }),
      fail,
      closing: options.closing(),
    });
    const send = (request: FastifyRequest, reply: FastifyReply, authorization: string) => {
      if (staleReadable(request.method, request.url)) {
        fallbackOf(upstream).forward(
          request.url,
          reply,
          (fallback, failed) =>
            forward(request, reply, { ...forwarding(request, authorization, failed), fallback }),
          problemFor,
        );
        return;
      }
      forward(
        request,
        reply,
        forwarding(request, authorization, (error) => reply.send(problemFor(upstreamFailure(error)))),
      );
    };
    const handler = (request: FastifyRequest, reply: FastifyReply) => {
      // A path that climbs out of the prefix would reach another service's routes.
      if (leavesPrefix(request.url)) {
        reply.send(problems.badRequest('The path may not contain a ".." segment, encoded or not.'));
        return;
      }
      // The service token is minted once per user and service and then reused
      // while fresh, so nearly every request takes the synchronous path.
      const user = request.gatewayUser;
      const ready = credentials.peek(upstream, user);
      if (ready) return send(request, reply, ready);
      credentials.mint(upstream, user).then(
        (authorization) => send(request, reply, authorization),
        (error: Error) => reply.send(error),
      );
    };
    for (const url of [route.prefix, `${route.prefix}/*`]) {
      scope.route({
        method: METHODS,
        url,
        handler,
        // The request span and the undici client span say it all.
        config: NO_HANDLER_SPAN,
      });
    }
  }
}
