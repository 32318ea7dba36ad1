// Stand-ins for what surrounds the gateway in tests, all real servers on
// 127.0.0.1: the users service's key set (Ed25519 keys made here, JWKS served
// over HTTP) and upstream services built with the platform that echo back what
// reached them, including the caller their serviceAuth verified.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ActingUser, createServer, serviceAuth } from '@shop/platform';
import { TEST_SERVICE_SECRET, testLogger } from '@shop/testkit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { z } from 'zod';
import { buildApp, type GatewayDeps } from '../src/app.js';
import { pathOf, type Upstream } from '../src/routes.js';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface SigningKey {
  kid: string;
  privateKey: PrivateKey;
  jwk: JWK;
}

export async function signingKey(kid = randomUUID()): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { kid, privateKey, jwk };
}

export interface AccessTokenClaims {
  sub?: string;
  role?: string;
  iss?: string;
  aud?: string;
  expiresIn?: string | number;
  key: SigningKey;
}

/** An access token as the users service issues it. */
export async function accessToken(claims: AccessTokenClaims): Promise<string> {
  const jwt = new SignJWT({ role: claims.role ?? 'customer' })
    .setProtectedHeader({ alg: 'EdDSA', kid: claims.key.kid })
    .setSubject(claims.sub ?? randomUUID())
    .setIssuer(claims.iss ?? 'shop-users')
    .setAudience(claims.aud ?? 'shop')
    .setIssuedAt();
  jwt.setExpirationTime(claims.expiresIn ?? '15m');
  return jwt.sign(claims.key.privateKey);
}

export async function bearer(user: ActingUser, key: SigningKey): Promise<string> {
  return `Bearer ${await accessToken({ sub: user.id, role: user.role, key })}`;
}

/** The users service's /.well-known/jwks.json, with keys that can change (rotation). */
export interface JwksServer {
  url: string;
  jwksUrl: URL;
  fetches: () => number;
  publish: (keys: SigningKey[]) => void;
  close: () => Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  let published = keys;
  let fetches = 0;
  const server = createHttpServer((request, response) => {
    if (request.url === '/.well-known/jwks.json') {
      fetches++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: published.map((key) => key.jwk) }));
      return;
    }
    response.writeHead(404).end();
  });
  const url = await listen(server);
  return {
    url,
    jwksUrl: new URL('/.well-known/jwks.json', url),
    fetches: () => fetches,
    publish: (next) => {
      published = next;
    },
    close: () => closeServer(server),
  };
}

export interface Echo {
  service: string;
  caller: { service: string; user?: ActingUser } | null;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** A service built like the real ones (createServer + serviceAuth) that echoes what reached it. */
export async function startUpstream(name: Upstream, prefixes: string[]) {
  const app = createServer({
    name,
    logger: testLogger(name),
    openapi: { title: `shop ${name}`, version: '1.0.0' },
  });
  app.register(serviceAuth, {
    audience: name,
    secrets: [TEST_SERVICE_SECRET],
    publicPaths: /^\/(health\/|metrics$|openapi\.json$)/,
  });
  // `/slow` answers after 1.5 s; `/created` answers 201 with a Location.
  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.url.includes('/slow')) await new Promise((resolve) => setTimeout(resolve, 1500));
    if (request.url.includes('/created')) reply.code(201).header('location', `${pathOf(request.url)}/42`);
    return echo(name, request);
  };
  app.register(async (scope) => {
    for (const prefix of prefixes) {
      // One documented route per prefix, so the OpenAPI aggregation has something to merge;
      // with every method the tests send there, since the gateway answers any other with 405.
      scope.route({
        method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
        url: `${prefix}/:id`,
        schema: {
          tags: [name],
          summary: `One of ${name}'s things`,
          params: z.object({ id: z.string() }),
        },
        handler: handle,
      });
      scope.all(`${prefix}`, { schema: { hide: true } }, handle);
      scope.all(`${prefix}/*`, { schema: { hide: true } }, handle);
    }
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, close: () => app.close() };
}

function echo(
  service: string,
  request: {
    caller: Echo['caller'];
    method: string;
    url: string;
    headers: Echo['headers'];
    body: unknown;
  },
): Echo {
  return {
    service,
    caller: request.caller,
    method: request.method,
    url: request.url,
    headers: request.headers,
    body: request.body ?? null,
  };
}

/** A gateway on a real port in front of the given upstream URLs. */
export async function startGateway(deps: Partial<GatewayDeps> & Pick<GatewayDeps, 'jwks' | 'upstreams'>) {
  const app = buildApp({
    logger: testLogger('gateway'),
    serviceTokenSecrets: [TEST_SERVICE_SECRET],
    ...deps,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, close: () => app.close() };
}

/** A base URL nothing listens on. */
export async function closedPortUrl(): Promise<string> {
  const server = createHttpServer();
  const url = await listen(server);
  await closeServer(server);
  return url;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
