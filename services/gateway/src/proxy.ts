// The proxied API: per request, who is calling (the access token), whether
// they may (public route or signed in, not deleted), and the forwarding itself
// through @fastify/http-proxy on keep-alive undici pools, with the client's
// credentials swapped for a service token.
//
// @fastify/http-proxy normally registers catch-all content-type parsers that
// hand the raw stream on, which would bypass the body limit and accept any
// media type. Here the scope accepts only application/json, read as a Buffer
// under the body limit (so 413 and 415 come from Fastify as problems) and
// forwarded byte for byte, never parsed.
import httpProxy from '@fastify/http-proxy';
import { type ActingUser, Counter, Problem, type Registry } from '@shop/platform';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Pool } from 'undici';
import type { AccessTokens, AuthFailure } from './access-tokens.js';
import { bearerToken } from './access-tokens.js';
import type { DenyList } from './deny-list.js';
import {
  clientResponseHeaders,
  upstreamFailure,
  upstreamProblem,
  upstreamRequestHeaders,
} from './forwarding.js';
import { policyFor, ROUTES, type RoutePolicy, type Upstream } from './routes.js';
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
  upstreamUrls: Record<Upstream, string>;
  accessTokens: AccessTokens;
  denyList: DenyList;
  credentials: UpstreamCredentials;
  clientIpOf: (request: Pick<FastifyRequest, 'ip' | 'headers'>) => string;
  metrics: Registry;
}

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
  // requests with bad tokens count against the client's limit.
  scope.addHook('onRequest', async (request) => {
    request.routePolicy = policyFor(request.method, request.url);
    const token = bearerToken(request.headers.authorization);
    if (token === null) {
      request.authFailure = 'missing';
      return;
    }
    if (token === undefined) {
      request.authFailure = 'malformed';
      return;
    }
    const verification = await accessTokens.verify(token);
    if (!verification.ok) request.authFailure = verification.failure;
    else if (denyList.has(verification.user.id)) request.authFailure = 'revoked';
    else request.gatewayUser = verification.user;
  });

  // Before the body is read: a request that will be refused is not worth reading.
  scope.addHook('preParsing', (request, _reply, payload, done) => {
    if (request.gatewayUser || request.routePolicy?.public) return done(null, payload);
    const failure = request.authFailure ?? 'missing';
    rejections.inc({ reason: failure });
    done(authProblem(failure));
  });

  for (const route of ROUTES) {
    const upstream = route.upstream;
    const onError = (reply: { send: (payload: unknown) => unknown }, { error }: { error: Error }) => {
      const failure = upstreamFailure(error);
      upstreamErrors.inc({ upstream, failure });
      reply.send(upstreamProblem(upstream, failure));
    };
    await scope.register(httpProxy, {
      upstream: options.upstreamUrls[upstream],
      prefix: route.prefix,
      rewritePrefix: route.prefix,
      undici: options.pools[upstream],
      proxyPayloads: false,
      disableRequestLogging: true,
      internalRewriteLocationHeader: false,
      // Mint (or reuse) the service token while async work is still allowed;
      // the header rewrite below is synchronous.
      preHandler: (request, _reply, done) => {
        const user = request.gatewayUser;
        const ready = credentials.peek(upstream, user);
        if (ready) {
          request.upstreamAuthorization = ready;
          return done();
        }
        credentials.mint(upstream, user).then((header) => {
          request.upstreamAuthorization = header;
          done();
        }, done);
      },
      handler: (request, reply, dest, replyOptions) =>
        request.body === undefined
          ? reply.from(dest, replyOptions)
          : reply.from(dest, {
              ...replyOptions,
              body: request.body,
              contentType: request.headers['content-type'] ?? 'application/json',
            }),
      replyOptions: {
        // One retry of a safe request whose pooled connection was found dead;
        // no retries of 503s (any retriesCount above 0 turns those off).
        retriesCount: 1,
        rewriteRequestHeaders: (request, headers) =>
          upstreamRequestHeaders(headers, {
            authorization: request.upstreamAuthorization!,
            requestId: request.id,
            clientIp: clientIpOf(request),
          }) as typeof headers,
        rewriteHeaders: (headers) => clientResponseHeaders(headers),
        onError,
      },
    });
  }
}
