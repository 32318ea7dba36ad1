// The forwarding against a service that misbehaves at the connection level,
// a real node:http server on 127.0.0.1: it answers the first request of every
// connection and drops the connection, unanswered, at the second, as a
// service does when it closes an idle keep-alive connection just as the
// gateway sends on it. And a service whose answer is large and slow to read.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
} from './support.js';

let key: SigningKey;
let jwks: JwksServer;
let service: Server;
let gateway: Awaited<ReturnType<typeof startGateway>>;
const served: string[] = [];
const customer = testUser('customer');
const BIG = 'x'.repeat(4 * 1024 * 1024);

beforeAll(async () => {
  key = await signingKey();
  jwks = await startJwksServer([key]);
  service = createServer((incoming, response) => {
    const socket = incoming.socket as typeof incoming.socket & { requests?: number };
    socket.requests = (socket.requests ?? 0) + 1;
    incoming.resume();
    incoming.on('end', () => {
      if (socket.requests! > 1) {
        socket.destroy();
        return;
      }
      // The gateway also reads the API document from each upstream (for 405s); not an API call.
      if (incoming.url !== '/openapi.json') served.push(`${incoming.method} ${incoming.url}`);
      const body = incoming.url?.endsWith('/big') ? JSON.stringify({ big: BIG }) : '{"ok":true}';
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  gateway = await startGateway({
    jwks: createRemoteJWKSet(jwks.jwksUrl),
    upstreams: { users: url, inventory: url, orders: url, notifications: url, shipping: url },
    // One connection per service, so which connection a request takes is known.
    upstreamConnections: 1,
  });
});

afterAll(async () => {
  await gateway?.close();
  service?.closeAllConnections();
  await new Promise((resolve) => service?.close(resolve));
  await jwks?.close();
});

const call = async (path: string, init: Parameters<typeof request>[1] = {}) => {
  const response = await request(`${gateway.url}${path}`, init);
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
};

describe('a pooled connection the service has dropped', () => {
  it('costs a safe request nothing: it is sent again on a new connection', async () => {
    const headers = { authorization: await bearer(customer, key) };
    // The first request opens the connection, the second finds it dropped.
    expect((await call('/api/v1/orders/o1', { headers })).status).toBe(200);
    const again = await call('/api/v1/orders/o2', { headers });
    expect(again.status).toBe(200);
    expect(JSON.parse(again.text)).toEqual({ ok: true });
    expect(served).toEqual(['GET /api/v1/orders/o1', 'GET /api/v1/orders/o2']);
  });

  it('is never a reason to send a request that changes something twice: 502 problem+json', async () => {
    const headers = { authorization: await bearer(customer, key), 'content-type': 'application/json' };
    // On the connection the retry above opened, which has served one request.
    const response = await call('/api/v1/orders', { method: 'POST', headers, body: '{"items":[]}' });
    expect(response.status).toBe(502);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(served.filter((line) => line.startsWith('POST'))).toEqual([]);
  });
});

describe('a large answer', () => {
  it('reaches the client whole when the client reads it slowly, chunk by chunk', async () => {
    const response = await request(`${gateway.url}/api/v1/products/big`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify({ big: BIG }))));
    let received = '';
    for await (const chunk of response.body) {
      received += chunk;
      // A slow reader fills the client's socket: the gateway pauses the service and resumes it.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(JSON.parse(received).big).toHaveLength(BIG.length);
  });
});
