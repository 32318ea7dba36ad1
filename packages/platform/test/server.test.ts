import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../src/logging.js';
import { Problem } from '../src/problems.js';
import { createServer } from '../src/server.js';

const app = createServer({
  name: 'test',
  logger: createLogger({ name: 'test', level: 'silent' }),
  bodyLimit: 1024,
});

app.post(
  '/things',
  { schema: { body: z.object({ name: z.string().min(1), tags: z.array(z.string()).max(2).optional() }) } },
  async (request, reply) => reply.code(201).send({ name: request.body.name }),
);
app.get(
  '/things',
  { schema: { querystring: z.object({ limit: z.coerce.number().int().max(100) }) } },
  async () => [],
);
app.get('/conflict', async () => {
  throw new Problem(409, 'thing-exists', 'That thing exists already.');
});
app.get('/boom', async () => {
  throw new Error('secret internals');
});
app.get('/items/:id', async () => ({}));
app.get('/database-restarting', async () => {
  // What pg says when Postgres shuts down under an open connection.
  throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
});
app.readiness.add('database', async () => undefined);
app.readiness.add('broker', async () => ({ brokers: 1 }));

beforeAll(() => app.ready());
afterAll(() => app.close());

const problemOf = (response: { headers: Record<string, unknown>; json: () => unknown }) => {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json() as Record<string, unknown>;
};

describe('server errors are problem+json', () => {
  it('lists each invalid field of the body with its path', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { name: '', tags: ['a', 'b', 'c'] },
    });
    expect(response.statusCode).toBe(400);
    const problem = problemOf(response);
    expect(problem).toMatchObject({
      status: 400,
      title: 'Bad Request',
      type: expect.stringMatching(/validation$/),
    });
    expect((problem.errors as { path: string }[]).map((e) => e.path).sort()).toEqual([
      'body.name',
      'body.tags',
    ]);
  });

  it('names the query parameter that is wrong', async () => {
    const response = await app.inject({ method: 'GET', url: '/things?limit=1000' });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).errors).toEqual([{ path: 'querystring.limit', message: expect.any(String) }]);
  });

  it.each([
    ['an unknown route', { method: 'GET' as const, url: '/nowhere' }, 404],
    [
      'a wrong content type',
      {
        method: 'POST' as const,
        url: '/things',
        payload: 'name=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      415,
    ],
    [
      'a body over the limit',
      { method: 'POST' as const, url: '/things', payload: { name: 'x'.repeat(2000) } },
      413,
    ],
    [
      'malformed JSON',
      {
        method: 'POST' as const,
        url: '/things',
        payload: '{"name":',
        headers: { 'content-type': 'application/json' },
      },
      400,
    ],
    ['a domain problem', { method: 'GET' as const, url: '/conflict' }, 409],
  ])('answers %s with %i', async (_what, request, status) => {
    const response = await app.inject(request);
    expect(response.statusCode).toBe(status);
    const problem = problemOf(response);
    expect(problem.status).toBe(status);
    expect(problem.detail).toEqual(expect.any(String));
    expect(problem.type).toEqual(expect.stringMatching(/^https:\/\//));
  });

  it('refuses a NUL character in any field the schema let through, naming each, before the handler runs', async () => {
    // Postgres cannot store U+0000: a field declared without refusing it would fail in the query.
    const body = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { name: 'a\u0000b', tags: ['ok', '\u0000'] },
    });
    expect(body.statusCode).toBe(400);
    expect(problemOf(body)).toMatchObject({
      type: 'https://shop.example/problems/validation',
      detail:
        'The request contains text no field can hold: a NUL character (U+0000) or a lone UTF-16 surrogate.',
      errors: [
        { path: 'body.name', message: 'must not contain the NUL character (U+0000)' },
        { path: 'body.tags.1', message: 'must not contain the NUL character (U+0000)' },
      ],
    });
    // A lone surrogate is valid JSON but no character: Postgres (through Prisma) cannot take it either.
    const surrogate = await app.inject({
      method: 'POST',
      url: '/things',
      payload: '{"name":"\\ud800","tags":["ok","\\udfff x"]}',
      headers: { 'content-type': 'application/json' },
    });
    expect(surrogate.statusCode).toBe(400);
    expect(problemOf(surrogate).errors).toEqual([
      { path: 'body.name', message: 'must be well-formed Unicode (it holds a lone surrogate)' },
      { path: 'body.tags.1', message: 'must be well-formed Unicode (it holds a lone surrogate)' },
    ]);
    // A surrogate pair is a character like any other.
    expect(
      (await app.inject({ method: 'POST', url: '/things', payload: { name: 'a😀' } })).statusCode,
    ).not.toBe(400);
    const params = await app.inject({ method: 'GET', url: '/items/a%00b' });
    expect(problemOf(params).errors).toEqual([
      { path: 'params.id', message: 'must not contain the NUL character (U+0000)' },
    ]);
  });

  it('lets a NUL through in a field the schema drops: it goes nowhere, and the schema allows it', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/things',
      payload: '{"name":"a","x\\u0000":"\\u0000"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(201);
  });

  it('answers a method the path is not served with 405 and Allow, whatever the method', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'QUERY'] as const) {
      // (TRACE and QUERY are real methods light-my-request's typings leave out.)
      const response = await app.inject({ method: method as 'PUT', url: '/things' });
      expect(response.statusCode, method).toBe(405);
      expect(response.headers.allow).toBe('GET, HEAD, POST');
      expect(problemOf(response)).toMatchObject({
        status: 405,
        type: expect.stringMatching(/method-not-allowed$/),
      });
    }
    const item = await app.inject({ method: 'POST', url: '/items/7' });
    expect(item.statusCode).toBe(405);
    expect(item.headers.allow).toBe('GET, HEAD');
    expect((await app.inject({ method: 'POST', url: '/nowhere' })).statusCode).toBe(404);
  });

  it('answers the router refusals in problem+json too', async () => {
    const tooLong = await app.inject({ method: 'GET', url: `/items/${'x'.repeat(150)}` });
    expect(tooLong.statusCode).toBe(400);
    expect(problemOf(tooLong)).toMatchObject({
      status: 400,
      detail: expect.stringMatching(/path parameter/),
    });
    const undecodable = await app.inject({ method: 'GET', url: '/items/%E0%A4%A' });
    expect(undecodable.statusCode).toBe(400);
    expect(problemOf(undecodable)).toMatchObject({
      status: 400,
      detail: expect.stringMatching(/URL is not valid/),
    });
  });

  it('hides internals of unexpected errors but gives the request id to quote', async () => {
    const response = await app.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'req-42' } });
    expect(response.statusCode).toBe(500);
    const problem = problemOf(response);
    expect(JSON.stringify(problem)).not.toContain('secret internals');
    expect(problem.detail).toContain('req-42');
  });

  it('answers a dependency that is restarting with 503 and Retry-After, not 500', async () => {
    const response = await app.inject({ method: 'GET', url: '/database-restarting' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('2');
    const problem = problemOf(response);
    expect(problem.status).toBe(503);
    expect(JSON.stringify(problem)).not.toContain('administrator');
  });
});

describe('request ids', () => {
  it('echoes a sane incoming id and generates one otherwise', async () => {
    const given = await app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'abc-123' },
    });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const generated = await app.inject({ method: 'GET', url: '/health/live' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'a\nb c' },
    });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('health and metrics', () => {
  it('is live and ready when every critical check passes', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      checks: { database: { status: 'up' }, broker: { brokers: 1 } },
    });
  });

  it('names the failing and the slow dependency when not ready', async () => {
    const probe = createServer({
      name: 'probe',
      logger: createLogger({ name: 'probe', level: 'silent' }),
      readinessTimeoutMs: 100,
    });
    probe.readiness.add('database', async () => {
      throw new Error('connection refused');
    });
    probe.readiness.add('broker', () => new Promise(() => undefined));
    probe.readiness.add(
      'provider',
      async () => {
        throw new Error('breaker open');
      },
      { critical: false },
    );
    const response = await probe.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      status: 'not-ready',
      checks: {
        database: { status: 'down', error: 'connection refused' },
        broker: { status: 'down', error: expect.stringContaining('did not answer within 100 ms') },
        provider: { status: 'down' },
      },
    });
    await probe.close();
  });

  it('serves Prometheus metrics including request durations by route', async () => {
    await app.inject({ method: 'GET', url: '/things?limit=1' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatch(
      /http_server_request_duration_seconds_count\{[^}]*route="\/things"[^}]*\} \d+/,
    );
    expect(response.body).toContain('process_resident_memory_bytes');
  });
});
