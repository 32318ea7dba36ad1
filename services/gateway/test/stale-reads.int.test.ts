// The catalogue's reads through the real gateway over HTTP on 127.0.0.1 when
// inventory stops, answers 503, or keeps failing: answered from what the
// gateway kept, marked stale (Age, Cache-Status), within the maximum
// staleness; never for a write, never for what was not kept.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPortUrl, type JwksServer, signingKey, startGateway, startJwksServer } from './support.js';

/** An inventory stand-in that can answer, answer 503, or not listen at all, on one port. */
class Catalogue {
  mode: 'ok' | 'unavailable' = 'ok';
  version = 1;
  requests = 0;
  port = 0;
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      this.requests++;
      if (this.mode === 'unavailable') {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag: `"v${this.version}"` });
      res.end(JSON.stringify({ url: req.url, version: this.version, method: req.method }));
    });
    await new Promise<void>((resolve) => this.#server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const server = this.#server!;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const MAX_STALE_MS = 3000;
let jwks: JwksServer;
let catalogue: Catalogue;
let gateway: Awaited<ReturnType<typeof startGateway>>;

beforeAll(async () => {
  jwks = await startJwksServer([await signingKey()]);
  catalogue = new Catalogue();
  const inventory = await catalogue.start();
  const nowhere = await closedPortUrl();
  gateway = await startGateway({
    jwks: createRemoteJWKSet(jwks.jwksUrl),
    upstreams: { users: nowhere, inventory, orders: nowhere, notifications: nowhere, shipping: nowhere },
    staleReads: { maxStaleMs: MAX_STALE_MS, maxEntries: 100, maxBytes: 1024 * 1024 },
    upstreamTimeoutMs: 1000,
  });
});

afterAll(async () => {
  await gateway?.close();
  await jwks?.close();
  await catalogue?.stop().catch(() => undefined);
});

async function get(path: string, method = 'GET') {
  const response = await request(`${gateway.url}${path}`, {
    method: method as 'GET',
    ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
}

/** The value of the breaker's state gauge: 0 closed, 1 half-open, 2 open. */
async function breakerState(): Promise<number | undefined> {
  const text = await (await request(`${gateway.url}/metrics`)).body.text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('gateway_stale_read_breaker_state{') && l.includes('upstream="inventory"'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function metricLines(name: string): Promise<string> {
  const text = await (await request(`${gateway.url}/metrics`)).body.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .join('\n');
}

describe('catalogue reads when inventory cannot answer', () => {
  it('are answered fresh, and unmarked, while inventory answers', async () => {
    const fresh = await get('/api/v1/products/p1');
    expect(fresh.status).toBe(200);
    expect(fresh.json).toMatchObject({ url: '/api/v1/products/p1', version: 1 });
    expect(fresh.headers.age).toBeUndefined();
    expect(fresh.headers['cache-status']).toBeUndefined();
    await get('/api/v1/products?limit=2');
  });

  it('get the kept answer, marked stale, when inventory answers 503; a read never kept gets its 503', async () => {
    catalogue.mode = 'unavailable';
    try {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const stale = await get('/api/v1/products/p1');
      expect(stale.status).toBe(200);
      expect(stale.json).toMatchObject({ url: '/api/v1/products/p1', version: 1 });
      expect(stale.headers.etag).toBe('"v1"');
      expect(stale.headers['content-type']).toMatch(/^application\/json/);
      expect(Number(stale.headers.age)).toBeGreaterThanOrEqual(1);
      expect(stale.headers['cache-status']).toMatch(
        /^shop-gateway; hit; ttl=-\d+; fwd-status=503; detail="inventory answered 503"$/,
      );
      // Never kept: the service's own answer goes through.
      const unknown = await get('/api/v1/products/p2');
      expect(unknown.status).toBe(503);
      expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    } finally {
      catalogue.mode = 'ok';
    }
  });

  it('get the kept answer when inventory is not even listening; writes and unkept reads get 503 + Retry-After', async () => {
    catalogue.version = 2;
    await get('/api/v1/products/p1'); // kept again: version 2
    await catalogue.stop();
    try {
      const stale = await get('/api/v1/products/p1');
      expect(stale.status).toBe(200);
      expect(stale.json).toMatchObject({ version: 2 });
      expect(stale.headers['cache-status']).toMatch(/detail="inventory is unreachable"$/);
      const list = await get('/api/v1/products?limit=2');
      expect(list.status).toBe(200);
      expect(list.headers['cache-status']).toMatch(/^shop-gateway; hit; /);
      // A different query is a different read, never kept.
      const other = await get('/api/v1/products?limit=3');
      expect(other.status).toBe(503);
      expect(other.headers['retry-after']).toBeDefined();
      expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
      // A write never falls back (it would be refused without a token anyway: sign-in is not the point here).
      const write = await get('/api/v1/products', 'POST');
      expect(write.status).not.toBe(200);
      expect(write.headers['cache-status']).toBeUndefined();
    } finally {
      await catalogue.start();
    }
  });

  it('after repeated failures, opens the breaker and answers stale without asking inventory, then closes', async () => {
    catalogue.mode = 'unavailable';
    try {
      for (let i = 0; i < 8; i++) await get('/api/v1/products/p1');
      expect(await breakerState()).toBe(2);
      const before = catalogue.requests;
      const stale = await get('/api/v1/products/p1');
      expect(stale.status).toBe(200);
      expect(stale.headers['cache-status']).toMatch(/detail="inventory is failing; its breaker is open"$/);
      expect(catalogue.requests).toBe(before);
      const unknown = await get('/api/v1/products/p9');
      expect(unknown.status).toBe(503);
      expect(unknown.headers['retry-after']).toBe('5');
    } finally {
      catalogue.mode = 'ok';
    }
    // Half-open after the reset time: the trial read succeeds and the breaker closes.
    await new Promise((resolve) => setTimeout(resolve, 5200));
    const fresh = await get('/api/v1/products/p1');
    expect(fresh.status).toBe(200);
    expect(fresh.headers['cache-status']).toBeUndefined();
    expect(await breakerState()).toBe(0);
    expect(await metricLines('gateway_stale_answers_total')).toMatch(/reason="breaker-open"/);
  });

  it('never serves an answer older than the maximum staleness', async () => {
    await get('/api/v1/products/p1');
    await catalogue.stop();
    try {
      await new Promise((resolve) => setTimeout(resolve, MAX_STALE_MS + 300));
      const expired = await get('/api/v1/products/p1');
      expect(expired.status).toBe(503);
      expect(expired.headers['cache-status']).toBeUndefined();
    } finally {
      await catalogue.start();
    }
  }, 15_000);
});
