import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/logging.js';
import { createServer } from '../src/server.js';
import { requireAdmin, ServiceTokens, ServiceTokenVerifier, serviceAuth } from '../src/service-auth.js';

const secret = 'a-very-long-shared-secret-for-tests-0001';
const nextSecret = 'the-next-shared-secret-for-rotation-0002';
const user = { id: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d', role: 'customer' as const };

const app = createServer({ name: 'orders', logger: createLogger({ name: 'orders', level: 'silent' }) });

beforeAll(async () => {
  await app.register(serviceAuth, { audience: 'orders', secrets: [nextSecret, secret] });
  app.get('/whoami', async (request) => request.caller);
  app.get('/admin', async (request) => requireAdmin(request));
  await app.ready();
});
afterAll(() => app.close());

const call = (token?: string, url = '/whoami') =>
  app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('service auth', () => {
  it('accepts a token minted for this service and exposes the caller and the user', async () => {
    const token = await new ServiceTokens('gateway', [secret]).tokenFor('orders', user);
    const response = await call(token);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ service: 'gateway', user });
  });

  it('accepts tokens signed with any configured secret, so secrets can be rotated', async () => {
    const token = await new ServiceTokens('payments', [nextSecret]).tokenFor('orders');
    expect((await call(token)).json()).toEqual({ service: 'payments' });
  });

  it.each([
    ['no token', undefined, 'required'],
    ['a token for another service', 'other-audience', 'not issued for orders'],
    ['a token signed with an unknown secret', 'unknown-secret', 'not signed by a known key'],
    ['an expired token', 'expired', 'expired'],
    ['garbage', 'garbage', 'invalid'],
  ])('refuses %s with 401 problem+json', async (_case, kind, detail) => {
    let token: string | undefined;
    if (kind === 'other-audience') token = await new ServiceTokens('gateway', [secret]).tokenFor('payments');
    if (kind === 'unknown-secret')
      token = await new ServiceTokens('gateway', ['x'.repeat(40)]).tokenFor('orders');
    if (kind === 'expired') {
      token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('gateway')
        .setSubject('gateway')
        .setAudience('orders')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 300)
        .sign(new TextEncoder().encode(secret));
    }
    if (kind === 'garbage') token = 'not.a.jwt';
    const response = await call(token);
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json().detail).toContain(detail);
  });

  it('remembers a verified token only until it expires', async () => {
    const verifier = new ServiceTokenVerifier('orders', [secret]);
    const token = await new ServiceTokens('gateway', [secret], 1).tokenFor('orders', user);
    expect(await verifier.verify(token)).toEqual({ service: 'gateway', user });
    expect(await verifier.verify(token)).toEqual({ service: 'gateway', user });
    // A second of life plus the 5 s clock tolerance: then the same token is refused again.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 7000 });
    try {
      await expect(verifier.verify(token)).rejects.toMatchObject({ status: 401 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers 403 when the user lacks the role', async () => {
    const token = await new ServiceTokens('gateway', [secret]).tokenFor('orders', user);
    const response = await call(token, '/admin');
    expect(response.statusCode).toBe(403);
  });

  it('leaves probes and metrics open', async () => {
    expect((await call(undefined, '/health/live')).statusCode).toBe(200);
    expect((await call(undefined, '/metrics')).statusCode).toBe(200);
  });
});
