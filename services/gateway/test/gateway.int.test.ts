// The gateway over real HTTP on 127.0.0.1, in front of real platform services
// (createServer + serviceAuth) that echo what reached them, with a users-like
// key set served over HTTP.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ServiceTokenVerifier } from '@shop/platform';
import { TEST_SERVICE_SECRET, testUser } from '@shop/testkit';
import { createRemoteJWKSet } from 'jose';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessToken,
  bearer,
  closedPortUrl,
  type Echo,
  type JwksServer,
  type SigningKey,
  signingKey,
  startGateway,
  startJwksServer,
  startUpstream,
} from './support.js';

let key: SigningKey;
let jwks: JwksServer;
let gateway: Awaited<ReturnType<typeof startGateway>>;
const upstreams: Awaited<ReturnType<typeof startUpstream>>[] = [];
const customer = testUser('customer');
const admin = testUser('admin');

beforeAll(async () => {
  key = await signingKey();
  jwks = await startJwksServer([key]);
  const users = await startUpstream('users', ['/api/v1/auth', '/api/v1/users']);
  const inventory = await startUpstream('inventory', ['/api/v1/products']);
  const orders = await startUpstream('orders', ['/api/v1/orders']);
  upstreams.push(users, inventory, orders);
  gateway = await startGateway({
    jwks: createRemoteJWKSet(jwks.jwksUrl, { cooldownDuration: 200 }),
    upstreams: {
      users: users.url,
      inventory: inventory.url,
      orders: orders.url,
      // Nothing listens there: the "service is down" case.
      notifications: await closedPortUrl(),
      shipping: await closedPortUrl(),
    },
    corsOrigins: ['https://shop.example'],
    bodyLimit: 1024,
    upstreamTimeoutMs: 1000,
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  await jwks?.close();
});

type Init = Parameters<typeof request>[1];
const call = async (path: string, init: Init = {}) => {
  const response = await request(`${gateway.url}${path}`, init);
  const text = await response.body.text();
  const json = text && /json/.test(String(response.headers['content-type'])) ? JSON.parse(text) : text;
  return { status: response.statusCode, headers: response.headers, json, text };
};
const as = async (user: { id: string; role: 'customer' | 'admin' }, extra: Record<string, string> = {}) => ({
  authorization: await bearer(user, key),
  ...extra,
});
const expectProblem = (response: Awaited<ReturnType<typeof call>>, status: number) => {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json).toMatchObject({ status, type: expect.stringMatching(/^https:\/\//) });
};

describe('routing', () => {
  it('forwards each prefix unchanged to its service, query included', async () => {
    const routes: [string, string][] = [
      ['/api/v1/products/p1?limit=3', 'inventory'],
      ['/api/v1/orders/o1', 'orders'],
      ['/api/v1/users/me', 'users'],
      ['/api/v1/auth/sessions', 'users'],
    ];
    for (const [path, service] of routes) {
      const response = await call(path, { headers: await as(customer) });
      expect(response.status, path).toBe(200);
      expect(response.json).toMatchObject({ service, url: path });
    }
  });

  it('forwards HEAD and bodiless DELETE', async () => {
    const head = await call('/api/v1/products', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    const remove = await call('/api/v1/orders/o1', {
      method: 'DELETE',
      headers: await as(customer),
    });
    expect(remove.status).toBe(200);
    expect(remove.json).toMatchObject({ service: 'orders', method: 'DELETE', url: '/api/v1/orders/o1' });
  });

  it('answers 404 problem+json for a route it does not know', async () => {
    expectProblem(await call('/api/v2/products'), 404);
    expectProblem(await call('/api/v1/productsx'), 404);
    expectProblem(await call('/nope', { headers: await as(customer) }), 404);
  });

  it('answers a method the document does not declare at a path with 405 and Allow, before any token', async () => {
    for (const method of ['TRACE', 'QUERY'] as const) {
      const response = await call('/api/v1/orders/o1', { method: method as 'GET' });
      expectProblem(response, 405);
      expect(response.headers.allow).toBe('DELETE, GET, HEAD, PATCH, POST, PUT');
    }
  });

  it('answers 503 problem+json when the service is unreachable', async () => {
    const response = await call('/api/v1/notifications', { headers: await as(customer) });
    expectProblem(response, 503);
    expect(response.json.detail).toContain('notifications');
    expect(response.headers['retry-after']).toBe('5');
  });

  it('answers 504 problem+json when the service is too slow', async () => {
    expectProblem(await call('/api/v1/orders/slow', { headers: await as(customer) }), 504);
  });

  it('refuses a path that climbs out of its prefix: 400 problem+json, nothing forwarded', async () => {
    // A raw path: a URL would have its dot segments resolved before it is sent.
    const client = new Client(gateway.url);
    try {
      // Signed in, so the path is what refuses it, not the missing token.
      const headers = await as(customer);
      for (const path of ['/api/v1/products/../users/me', '/api/v1/orders/%2e%2e/users/me']) {
        const response = await client.request({ method: 'GET', path, headers });
        const text = await response.body.text();
        expect(response.statusCode, path).toBe(400);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(text).detail).toContain('..');
      }
    } finally {
      await client.close();
    }
  });

  it('passes the service status and Location through', async () => {
    const response = await call('/api/v1/orders/created', { method: 'POST', headers: await as(customer) });
    expect(response.status).toBe(201);
    expect(response.headers.location).toBe('/api/v1/orders/created/42');
  });
});

describe('who may call', () => {
  it('serves the public routes without a token', async () => {
    for (const [method, path, service] of [
      ['GET', '/api/v1/products', 'inventory'],
      ['GET', `/api/v1/products/${randomUUID()}`, 'inventory'],
      ['POST', '/api/v1/auth/login', 'users'],
      ['POST', '/api/v1/auth/register', 'users'],
    ] as const) {
      const response = await call(path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? JSON.stringify({ email: 'a@b.c', password: 'x' }) : undefined,
      });
      expect(response.status, `${method} ${path}`).toBe(200);
      expect(response.json.service).toBe(service);
      expect(response.json.caller).toEqual({ service: 'gateway' });
    }
    expect((await call('/health/live')).status).toBe(200);
    expect((await call('/metrics')).status).toBe(200);
  });

  it('refuses everything else without a valid token: 401 problem+json with WWW-Authenticate', async () => {
    const other = await signingKey();
    const tokens: [string, Record<string, string>][] = [
      ['none', {}],
      ['not bearer', { authorization: 'Basic dXNlcjpwYXNz' }],
      ['garbage', { authorization: 'Bearer not-a-jwt' }],
      [
        'expired',
        {
          authorization: `Bearer ${await accessToken({ key, expiresIn: Math.floor(Date.now() / 1000) - 60 })}`,
        },
      ],
      ['wrong audience', { authorization: `Bearer ${await accessToken({ key, aud: 'payments' })}` }],
      ['wrong issuer', { authorization: `Bearer ${await accessToken({ key, iss: 'evil' })}` }],
      ['unknown key', { authorization: `Bearer ${await accessToken({ key: other })}` }],
      ['bad role', { authorization: `Bearer ${await accessToken({ key, role: 'root' })}` }],
      ['sub not a user id', { authorization: `Bearer ${await accessToken({ key, sub: 'admin' })}` }],
    ];
    for (const [label, headers] of tokens) {
      for (const [method, path] of [
        ['GET', '/api/v1/orders'],
        ['POST', '/api/v1/products'],
        ['DELETE', '/api/v1/users/me'],
        ['GET', '/api/v1/auth/login'],
      ] as const) {
        const response = await call(path, { method, headers });
        expectProblem(response, 401);
        expect(response.headers['www-authenticate'], label).toMatch(/^Bearer realm="shop"/);
      }
    }
    const expired = await call('/api/v1/orders', { headers: tokens[3]![1] });
    expect(expired.json.detail).toContain('expired');
    expect(expired.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('ignores a bad token on a public route instead of refusing it', async () => {
    const response = await call('/api/v1/products', { headers: { authorization: 'Bearer x.y.z' } });
    expect(response.status).toBe(200);
    expect(response.json.caller).toEqual({ service: 'gateway' });
  });
});

describe('identity towards the services', () => {
  it('sends each service a service token for its own audience, carrying the user', async () => {
    for (const [path, audience] of [
      ['/api/v1/orders/o1', 'orders'],
      ['/api/v1/products', 'inventory'],
      ['/api/v1/users/me', 'users'],
    ] as const) {
      const response = await call(path, { headers: await as(admin) });
      const echo = response.json as Echo;
      expect(echo.caller).toEqual({ service: 'gateway', user: { id: admin.id, role: 'admin' } });
      const token = String(echo.headers.authorization).replace(/^Bearer /, '');
      const caller = await new ServiceTokenVerifier(audience, [TEST_SERVICE_SECRET]).verify(token);
      expect(caller.user).toEqual(admin);
      // ...and never the client's own token.
      expect(echo.headers.authorization).not.toBe((await as(admin)).authorization);
    }
  });

  it('drops forged identity, forwarding and hop-by-hop headers, and sets its own', async () => {
    const response = await call('/api/v1/orders/o1', {
      headers: await as(customer, {
        'x-user-id': admin.id,
        'x-user-role': 'admin',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=6.6.6.6',
        'x-real-ip': '6.6.6.6',
        'x-internal-caller': 'payments',
        'proxy-authorization': 'Basic abc',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-request-id': 'req-from-client-1',
        'x-custom': 'kept',
      }),
    });
    const echo = response.json as Echo;
    expect(echo.caller?.user).toEqual(customer);
    for (const name of [
      'x-user-id',
      'x-user-role',
      'x-forwarded-host',
      'forwarded',
      'x-real-ip',
      'x-internal-caller',
      'proxy-authorization',
      'traceparent',
    ]) {
      expect(echo.headers[name], name).toBeUndefined();
    }
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echo.headers['x-custom']).toBe('kept');
    // The request id goes end to end.
    expect(echo.headers['x-request-id']).toBe('req-from-client-1');
    expect(response.headers['x-request-id']).toBe('req-from-client-1');
  });

  it('gives every request an id and passes it on', async () => {
    const response = await call('/api/v1/products');
    expect(response.headers['x-request-id']).toMatch(/^[\w-]{8,}$/);
    expect(response.json.headers['x-request-id']).toBe(response.headers['x-request-id']);
  });
});

describe('request bodies', () => {
  it('forwards a JSON body byte for byte', async () => {
    const body = '{"items":[{"productId":"p1","quantity":2}],"note":"ü"}';
    const response = await call('/api/v1/orders', {
      method: 'POST',
      headers: await as(customer, { 'content-type': 'application/json; charset=utf-8' }),
      body,
    });
    expect(response.status).toBe(200);
    expect(response.json.body).toEqual(JSON.parse(body));
    expect(response.json.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('refuses a body over the limit with 413, with or without Content-Length', async () => {
    const big = JSON.stringify({ note: 'x'.repeat(2000) });
    const headers = await as(customer, { 'content-type': 'application/json' });
    expectProblem(await call('/api/v1/orders', { method: 'POST', headers, body: big }), 413);
    const chunked = await call('/api/v1/orders', {
      method: 'PUT',
      headers,
      body: Readable.from([big.slice(0, 1000), big.slice(1000)]),
    });
    expectProblem(chunked, 413);
    // Public routes too.
    expectProblem(await call('/api/v1/auth/login', { method: 'POST', headers, body: big }), 413);
  });

  it('refuses a body that is not JSON with 415', async () => {
    for (const contentType of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const response = await call('/api/v1/orders', {
        method: 'POST',
        headers: await as(customer, { 'content-type': contentType }),
        body: 'a=1',
      });
      expectProblem(response, 415);
    }
    const untyped = await call('/api/v1/orders/o1', {
      method: 'PATCH',
      headers: await as(customer),
      body: 'a=1',
    });
    expectProblem(untyped, 415);
  });
});

describe('keys', () => {
  it('refetches the key set for an unknown key id (rotation)', async () => {
    const next = await signingKey();
    const before = jwks.fetches();
    // Not published yet: refused.
    expect(
      (await call('/api/v1/orders', { headers: { authorization: await bearer(customer, next) } })).status,
    ).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 250)); // past the test's 200 ms cooldown
    jwks.publish([key, next]);
    const response = await call('/api/v1/orders', {
      headers: { authorization: await bearer(customer, next) },
    });
    expect(response.status).toBe(200);
    expect(response.json.caller.user).toEqual(customer);
    expect(jwks.fetches()).toBeGreaterThan(before);
    // Tokens of the old key still work while it is published.
    expect((await call('/api/v1/orders', { headers: await as(customer) })).status).toBe(200);
  });
});

describe('browsers', () => {
  it('answers a CORS preflight from an allowed origin without a token', async () => {
    const response = await call('/api/v1/orders', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(String(response.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(response.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
  });

  it('gives no CORS grant to another origin', async () => {
    const response = await call('/api/v1/products', { headers: { origin: 'https://evil.example' } });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const allowed = await call('/api/v1/products', { headers: { origin: 'https://shop.example' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(String(allowed.headers['access-control-expose-headers'])).toContain('x-request-id');
  });

  it('sets security headers on proxied, refused and own responses', async () => {
    for (const response of [
      await call('/api/v1/products'),
      await call('/api/v1/orders'),
      await call('/openapi.json'),
      await call('/docs'),
    ]) {
      expect(response.headers['content-security-policy']).toContain("default-src 'self'");
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['strict-transport-security']).toBeDefined();
      expect(response.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    }
  });
});

describe('API documentation', () => {
  it("merges the services' documents, with the bearer scheme and the public operations marked", async () => {
    const response = await call('/openapi.json');
    expect(response.status).toBe(200);
    const doc = response.json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/products/{id}', '/api/v1/orders/{id}', '/api/v1/users/{id}']),
    );
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/api/v1/products/{id}'].get.security).toEqual([]);
    expect(doc.paths['/api/v1/orders/{id}'].get.security).toBeUndefined();
    // The service that is down is reported, not fatal.
    expect(doc['x-upstreams']).toMatchObject({
      inventory: 'fresh',
      orders: 'fresh',
      notifications: 'unavailable',
    });
  });

  it('serves Swagger UI from its own assets, showing the merged document', async () => {
    const page = await call('/docs');
    expect(page.status).toBe(200);
    expect(page.text).toContain('swagger-ui-bundle.js');
    const bundle = await call('/docs/static/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    const shown = await call('/docs/json');
    expect(Object.keys(shown.json.paths)).toContain('/api/v1/orders/{id}');
  });
});
