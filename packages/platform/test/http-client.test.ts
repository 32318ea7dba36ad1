// The service HTTP client against a real local HTTP server that misbehaves on purpose.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceClient, UpstreamError } from '../src/http-client.js';
import { createLogger } from '../src/logging.js';
import { createRegistry } from '../src/metrics.js';
import { createServer as createApp } from '../src/server.js';
import { ServiceTokens, serviceAuth } from '../src/service-auth.js';

type Behaviour = (request: IncomingMessage, response: ServerResponse, hit: number) => void;

let behaviour: Behaviour = (_req, res) => res.end();
let hits: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
let server: Server;
let baseUrl: string;
const clients: ServiceClient[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    behaviour(req, res, hits.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(async () => {
  hits = [];
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

function client(options: Partial<ConstructorParameters<typeof ServiceClient>[0]> = {}) {
  const c = new ServiceClient({
    upstream: 'inventory',
    baseUrl,
    timeoutMs: 200,
    retries: 2,
    backoff: { baseMs: 5, capMs: 20 },
    ...options,
  });
  clients.push(c);
  return c;
}

describe('ServiceClient', () => {
  it('returns JSON responses, 4xx included, without retrying them', async () => {
    behaviour = (_req, res) => json(res, 404, { detail: 'nope' });
    const response = await client().request({ method: 'GET', path: '/products/1' });
    expect(response).toMatchObject({ status: 404, body: { detail: 'nope' } });
    expect(hits).toHaveLength(1);
  });

  it('retries an idempotent call on 503 and succeeds', async () => {
    behaviour = (_req, res, hit) => (hit < 3 ? json(res, 503, {}) : json(res, 200, { ok: true }));
    const response = await client().request({ method: 'GET', path: '/x' });
    expect(response.body).toEqual({ ok: true });
    expect(hits).toHaveLength(3);
  });

  it('does not repeat a POST without an idempotency key', async () => {
    behaviour = (_req, res) => json(res, 503, {});
    await expect(client().request({ method: 'POST', path: '/charge', body: {} })).rejects.toMatchObject({
      failure: 'server-error',
      status: 503,
    });
    expect(hits).toHaveLength(1);
  });

  it('repeats a POST that carries an idempotency key, sending the key each time', async () => {
    behaviour = (_req, res, hit) => (hit < 2 ? json(res, 500, {}) : json(res, 201, { id: 'p1' }));
    const response = await client().request({
      method: 'POST',
      path: '/charge',
      body: { a: 1 },
      idempotencyKey: 'k-1',
    });
    expect(response.status).toBe(201);
    expect(hits.map((h) => h.headers['idempotency-key'])).toEqual(['k-1', 'k-1']);
  });

  it('gives up on an upstream that never answers after the per-attempt deadline', async () => {
    behaviour = () => undefined; // never answers
    const started = performance.now();
    const error = await client({ retries: 1 })
      .request({ method: 'GET', path: '/slow' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ failure: 'timeout', upstream: 'inventory' });
    expect(hits).toHaveLength(2);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('reports an unreachable upstream as a network failure', async () => {
    const c = client({ baseUrl: 'http://127.0.0.1:1', retries: 0 });
    await expect(c.request({ method: 'GET', path: '/' })).rejects.toMatchObject({ failure: 'network' });
  });

  it('propagates the current request id, and a service token for the upstream carrying the user', async () => {
    behaviour = (_req, res) => json(res, 200, {});
    const secret = 's'.repeat(40);
    const c = client({ tokens: new ServiceTokens('orders', [secret]) });
    const app = createApp({ name: 'orders', logger: createLogger({ name: 'orders', level: 'silent' }) });
    await app.register(serviceAuth, { audience: 'orders', secrets: [secret] });
    app.get('/relay', async () => (await c.request({ method: 'GET', path: '/downstream' })).status);
    const user = { id: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d', role: 'customer' as const };
    const token = await new ServiceTokens('gateway', [secret]).tokenFor('orders', user);
    const response = await app.inject({
      method: 'GET',
      url: '/relay',
      headers: { 'x-request-id': 'req-7', authorization: `Bearer ${token}` },
    });
    await app.close();
    expect(response.statusCode).toBe(200);
    expect(hits[0]?.headers['x-request-id']).toBe('req-7');
    const forwarded = String(hits[0]?.headers.authorization).replace('Bearer ', '');
    expect(decodeJwt(forwarded)).toMatchObject({ aud: 'inventory', sub: 'orders', user });
  });

  it('opens the breaker after repeated failures, fails fast while open, then half-opens and closes', async () => {
    const metrics = createRegistry('test');
    const c = client({
      retries: 0,
      metrics,
      breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 300 },
    });
    behaviour = (_req, res) => json(res, 500, {});
    for (let i = 0; i < 3; i++) await c.request({ method: 'GET', path: '/' }).catch(() => undefined);
    expect(c.breakerState).toBe('open');
    expect(await metrics.getSingleMetricAsString('http_client_breaker_state')).toMatch(
      /upstream="inventory"[^}]*} 2/,
    );

    const before = hits.length;
    await expect(c.request({ method: 'GET', path: '/' })).rejects.toMatchObject({ failure: 'breaker-open' });
    expect(hits.length).toBe(before); // failed fast, the upstream was spared

    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(c.breakerState).toBe('half-open');
    behaviour = (_req, res) => json(res, 200, { ok: true });
    await expect(c.request({ method: 'GET', path: '/' })).resolves.toMatchObject({ status: 200 });
    expect(c.breakerState).toBe('closed');
    expect(await metrics.getSingleMetricAsString('http_client_breaker_state')).toMatch(
      /upstream="inventory"[^}]*} 0/,
    );
    expect(await metrics.getSingleMetricAsString('http_client_requests_total')).toContain(
      'outcome="breaker-open"',
    );
  });

  it('reopens from half-open when the trial call fails', async () => {
    const c = client({ retries: 0, breaker: { volumeThreshold: 2, resetTimeoutMs: 200 } });
    behaviour = (_req, res) => json(res, 502, {});
    for (let i = 0; i < 2; i++) await c.request({ method: 'GET', path: '/' }).catch(() => undefined);
    expect(c.breakerState).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(c.breakerState).toBe('half-open');
    await c.request({ method: 'GET', path: '/' }).catch(() => undefined);
    expect(c.breakerState).toBe('open');
  });
});
