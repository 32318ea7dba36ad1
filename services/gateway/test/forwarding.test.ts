import { describe, expect, it } from 'vitest';
import { clientIp } from '../src/client-ip.js';
import {
  clientResponseHeaders,
  leavesPrefix,
  upstreamFailure,
  upstreamProblem,
  upstreamRequestHeaders,
} from '../src/forwarding.js';

describe('headers towards a service', () => {
  const forwarded = { authorization: 'Bearer service-token', requestId: 'req-1', clientIp: '203.0.113.7' };

  it('replaces credentials, request id and client address, and keeps the rest', () => {
    const headers = upstreamRequestHeaders(
      {
        host: 'inventory:8082',
        accept: 'application/json',
        'content-type': 'application/json',
        'content-length': '12',
        'idempotency-key': 'k1',
        'accept-language': 'de',
        authorization: 'Bearer client-token',
        'x-request-id': 'client',
        'x-forwarded-for': '6.6.6.6',
      },
      forwarded,
    );
    expect(headers).toEqual({
      host: 'inventory:8082',
      accept: 'application/json',
      'content-type': 'application/json',
      'content-length': '12',
      'idempotency-key': 'k1',
      'accept-language': 'de',
      authorization: 'Bearer service-token',
      'x-request-id': 'req-1',
      'x-forwarded-for': '203.0.113.7',
    });
  });

  it('drops hop-by-hop headers and anything that claims identity or origin', () => {
    const forged = [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
      'expect',
      'forwarded',
      'x-real-ip',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-original-url',
      'x-user-id',
      'x-user-role',
      'x-auth-user',
      'x-internal-token',
      'x-service-name',
      'x-caller',
      'x-gateway-verified',
      'traceparent',
      'tracestate',
    ];
    const headers = upstreamRequestHeaders(Object.fromEntries(forged.map((name) => [name, 'x'])), forwarded);
    expect(Object.keys(headers).sort()).toEqual(['authorization', 'x-forwarded-for', 'x-request-id']);
  });
});

describe('headers back to the client', () => {
  it("drops the service connection's hop-by-hop headers", () => {
    expect(
      clientResponseHeaders({
        'content-type': 'application/json',
        connection: 'close',
        'keep-alive': 'timeout=72',
        location: '/api/v1/orders/1',
      }),
    ).toEqual({ 'content-type': 'application/json', location: '/api/v1/orders/1' });
  });
});

describe('paths', () => {
  it('passes ordinary paths and queries', () => {
    expect(leavesPrefix('/api/v1/products/6f1c2a8e-3b7d-4c52-9a0e-2d4b8f61c7a3')).toBe(false);
    expect(leavesPrefix('/api/v1/products?q=a..b&next=/../x')).toBe(false);
    expect(leavesPrefix('/api/v1/products/v1.2/file.name')).toBe(false);
    expect(leavesPrefix('/api/v1/products/caf%C3%A9')).toBe(false);
  });

  it('refuses a way out of the prefix, however it is spelled', () => {
    for (const path of [
      '/api/v1/products/../users/me',
      '/api/v1/products/..',
      '/api/v1/products/%2e%2e/users/me',
      '/api/v1/products/%2E%2E%2Fusers',
      '/api/v1/products/..%5Cusers',
      '/api/v1/products\\..\\users',
    ]) {
      expect(leavesPrefix(path), path).toBe(true);
    }
  });

  it('refuses a path that cannot be decoded', () => {
    expect(leavesPrefix('/api/v1/products/%E0%A4%A')).toBe(true);
  });
});

describe('upstream failures', () => {
  const wrapped = (code: string) =>
    Object.assign(new Error('x'), { statusCode: 500, cause: Object.assign(new Error(code), { code }) });

  it('tells unavailable, timed out and broken services apart', () => {
    expect(upstreamFailure(wrapped('ECONNREFUSED'))).toBe('unavailable');
    expect(upstreamFailure(wrapped('UND_ERR_CONNECT_TIMEOUT'))).toBe('unavailable');
    expect(upstreamFailure(Object.assign(new Error('x'), { statusCode: 503 }))).toBe('unavailable');
    expect(upstreamFailure(wrapped('UND_ERR_HEADERS_TIMEOUT'))).toBe('timeout');
    expect(upstreamFailure(Object.assign(new Error('x'), { statusCode: 504 }))).toBe('timeout');
    expect(upstreamFailure(wrapped('ECONNRESET'))).toBe('bad-gateway');
    expect(upstreamFailure(wrapped('UND_ERR_SOCKET'))).toBe('bad-gateway');
  });

  it('becomes a problem naming the service', () => {
    const problem = upstreamProblem('orders', 'unavailable');
    expect(problem.status).toBe(503);
    expect(problem.detail).toContain('orders');
    expect(problem.extensions.headers).toEqual({ 'retry-after': '5' });
    expect(upstreamProblem('orders', 'timeout').status).toBe(504);
    expect(upstreamProblem('orders', 'bad-gateway').status).toBe(502);
  });
});

describe('client address', () => {
  it('is the socket peer unless proxies in front are trusted', () => {
    expect(clientIp('10.0.0.1', '6.6.6.6', 0)).toBe('10.0.0.1');
    expect(clientIp('10.0.0.1', undefined, 1)).toBe('10.0.0.1');
  });

  it('is the entry the outermost trusted proxy wrote, never one the client made up', () => {
    // client sent "6.6.6.6", the load balancer appended the client's real address.
    expect(clientIp('10.0.0.1', '6.6.6.6, 203.0.113.7', 1)).toBe('203.0.113.7');
    expect(clientIp('10.0.0.1', '6.6.6.6, 203.0.113.7, 10.0.0.9', 2)).toBe('203.0.113.7');
    expect(clientIp('10.0.0.1', ['6.6.6.6', '203.0.113.7'], 1)).toBe('203.0.113.7');
    expect(clientIp('10.0.0.1', '203.0.113.7', 3)).toBe('203.0.113.7');
    expect(clientIp('10.0.0.1', ' , ', 1)).toBe('10.0.0.1');
  });
});
