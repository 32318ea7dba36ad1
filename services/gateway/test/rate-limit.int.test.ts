// Rate limits over real HTTP: per user with a token, per client IP without,
// and a stricter per-IP limit on sign-in and sign-up. One trusted proxy hop is
// configured so the tests can speak from several addresses (X-Forwarded-For).
import { testUser } from '@shop/testkit';
import { createRemoteJWKSet } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
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
let upstreams: Awaited<ReturnType<typeof startUpstream>>[];
let upstreamUrls: Parameters<typeof startGateway>[0]['upstreams'];

beforeAll(async () => {
  key = await signingKey();
  jwks = await startJwksServer([key]);
  upstreams = [
    await startUpstream('users', ['/api/v1/auth', '/api/v1/users']),
    await startUpstream('inventory', ['/api/v1/products']),
    await startUpstream('orders', ['/api/v1/orders']),
  ];
  const [users, inventory, orders] = upstreams.map((upstream) => upstream.url) as [string, string, string];
  upstreamUrls = { users, inventory, orders, notifications: orders, shipping: orders };
  gateway = await startGateway({
    jwks: createRemoteJWKSet(jwks.jwksUrl),
    upstreams: upstreamUrls,
    rateLimits: { perUser: 3, perIp: 4, auth: 2 },
    trustedProxyHops: 1,
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  await jwks?.close();
});

const call = async (path: string, init: Parameters<typeof request>[1] = {}) => {
  const response = await request(`${gateway.url}${path}`, init);
  const text = await response.body.text();
  const json = /json/.test(String(response.headers['content-type'])) ? JSON.parse(text) : null;
  return { status: response.statusCode, headers: response.headers, json };
};
const from = (ip: string, extra: Record<string, string> = {}) => ({ 'x-forwarded-for': ip, ...extra });

describe('rate limits', () => {
  it('limits each signed-in user on its own, wherever the requests come from', async () => {
    const alice = testUser();
    const bob = testUser();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await call('/api/v1/orders', {
        headers: from(`10.0.0.${i + 1}`, { authorization: await bearer(alice, key) }),
      });
      statuses.push(response.status);
      if (i === 0) {
        expect(response.headers['x-ratelimit-limit']).toBe('3');
        expect(response.headers['x-ratelimit-remaining']).toBe('2');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);

    const refused = await call('/api/v1/orders', {
      headers: from('10.0.0.9', { authorization: await bearer(alice, key) }),
    });
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json).toMatchObject({ status: 429, type: 'https://shop.example/problems/rate-limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['x-ratelimit-limit']).toBe('3');
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.headers['x-ratelimit-reset']).toBeDefined();

    // Another user from the very same address is unaffected.
    const other = await call('/api/v1/orders', {
      headers: from('10.0.0.1', { authorization: await bearer(bob, key) }),
    });
    expect(other.status).toBe(200);
  });

  it('limits anonymous requests per client IP, and counts refused ones too', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await call('/api/v1/products', { headers: from('10.1.0.1') })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    // Bad tokens do not buy a fresh budget.
    const withBadToken = await call('/api/v1/orders', {
      headers: from('10.1.0.1', { authorization: 'Bearer a.b.c' }),
    });
    expect(withBadToken.status).toBe(429);
    expect((await call('/api/v1/products', { headers: from('10.1.0.2') })).status).toBe(200);
  });

  it('limits sign-in and sign-up harder, per IP, even for a signed-in caller', async () => {
    const login = (ip: string, path = '/api/v1/auth/login', extra: Record<string, string> = {}) =>
      call(path, {
        method: 'POST',
        headers: from(ip, { 'content-type': 'application/json', ...extra }),
        body: JSON.stringify({ email: 'a@b.c', password: 'guess' }),
      });
    expect((await login('10.2.0.1')).status).toBe(200);
    const signedIn = { authorization: await bearer(testUser(), key) };
    expect((await login('10.2.0.1', '/api/v1/auth/register', signedIn)).status).toBe(200);
    const third = await login('10.2.0.1');
    expect(third.status).toBe(429);
    expect(third.headers['x-ratelimit-limit']).toBe('2');
    // Spelling the path differently does not escape the limit.
    expect((await login('10.2.0.1', '/api/v1/auth/%6Cogin')).status).toBe(429);
    // Other routes from that address still have their own budget.
    expect((await call('/api/v1/products', { headers: from('10.2.0.1') })).status).toBe(200);
    expect((await login('10.2.0.2')).status).toBe(200);
  });

  it('never limits health probes or metrics scrapes', async () => {
    for (let i = 0; i < 8; i++) {
      expect((await call('/health/live', { headers: from('10.3.0.1') })).status).toBe(200);
      expect((await call('/metrics', { headers: from('10.3.0.1') })).status).toBe(200);
    }
  });

  it('limits nothing when rate limiting is switched off (RATE_LIMIT_ENABLED=false, for benchmarks)', async () => {
    const unlimited = await startGateway({
      jwks: createRemoteJWKSet(jwks.jwksUrl),
      upstreams: upstreamUrls,
      rateLimiting: false,
      rateLimits: { perUser: 1, perIp: 1, auth: 1 },
    });
    try {
      const alice = { authorization: await bearer(testUser(), key) };
      for (let i = 0; i < 4; i++) {
        const signedIn = await request(`${unlimited.url}/api/v1/orders`, { headers: alice });
        const anonymous = await request(`${unlimited.url}/api/v1/products`);
        for (const response of [signedIn, anonymous]) {
          await response.body.dump();
          expect(response.statusCode).toBe(200);
          expect(response.headers['x-ratelimit-limit']).toBeUndefined();
        }
      }
    } finally {
      await unlimited.close();
    }
  });
});
