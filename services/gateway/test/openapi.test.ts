import { testLogger } from '@shop/testkit';
import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { mergeOpenApi, methodIndex, OpenApiAggregator, type OpenApiDocument } from '../src/openapi.js';

const info = { title: 'shop API', version: '1.0.0' };
const doc = (paths: Record<string, unknown>, components: Record<string, unknown> = {}, tags: string[] = []) =>
  ({
    openapi: '3.1.0',
    info: { title: 'x', version: '1' },
    paths,
    components,
    tags: tags.map((name) => ({ name })),
  }) as OpenApiDocument;

const money = { type: 'object', properties: { cents: { type: 'integer' } } };
const inventory = doc(
  {
    '/api/v1/products': {
      get: { responses: { 200: { $ref: '#/components/responses/Page' } } },
      post: { requestBody: { $ref: '#/components/requestBodies/NewProduct' } },
    },
    '/api/v1/products/{id}': {
      get: { responses: { 200: { description: 'the product' } } },
      patch: { responses: { 200: { description: 'the product' } } },
    },
    '/internal/reindex': { post: {} },
  },
  {
    schemas: { Money: money, Error: { type: 'object', title: 'inventory error' } },
    responses: {
      Page: {
        description: 'a page',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    },
  },
  ['products'],
);
const orders = doc(
  {
    '/api/v1/orders': {
      post: {
        responses: {
          400: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      },
    },
    '/api/v1/products': { get: {} }, // not routed to orders: left out
  },
  { schemas: { Money: money, Error: { type: 'object', title: 'orders error' } } },
  ['orders', 'products'],
);

describe('merging OpenAPI documents', () => {
  const merged = mergeOpenApi(
    [
      { upstream: 'inventory', prefixes: ['/api/v1/products'], document: inventory, state: 'fresh' },
      { upstream: 'orders', prefixes: ['/api/v1/orders'], document: orders, state: 'stale' },
      {
        upstream: 'notifications',
        prefixes: ['/api/v1/notifications'],
        document: undefined,
        state: 'unavailable',
      },
    ],
    info,
  );

  it("keeps each service's routed paths only", () => {
    expect(Object.keys(merged.paths ?? {}).sort()).toEqual([
      '/api/v1/orders',
      '/api/v1/products',
      '/api/v1/products/{id}',
    ]);
    expect(merged.paths?.['/api/v1/products']?.get).toMatchObject({
      responses: { 200: { $ref: '#/components/responses/Page' } },
      security: [],
    });
  });

  it('declares Age and Cache-Status on the reads the gateway may answer stale, and nowhere else', () => {
    const read = merged.paths?.['/api/v1/products/{id}'];
    expect(Object.keys(read?.get.responses[200].headers ?? {})).toEqual(['Age', 'Cache-Status']);
    expect(read?.patch.responses[200].headers).toBeUndefined();
    expect(merged.paths?.['/api/v1/orders']?.post.responses?.[200]?.headers).toBeUndefined();
  });

  it('adds the problems the gateway itself answers: 401 where a token is needed, 429 and 502-504 everywhere', () => {
    const publicList = merged.paths?.['/api/v1/products']?.get.responses;
    expect(Object.keys(publicList)).toEqual(['200', '429', '502', '503', '504']);
    const placeOrder = merged.paths?.['/api/v1/orders']?.post.responses;
    expect(Object.keys(placeOrder)).toEqual(['400', '401', '429', '502', '503', '504']);
    expect(placeOrder[401].headers['WWW-Authenticate'].required).toBe(true);
    expect(placeOrder[429]).toMatchObject({
      headers: { 'Retry-After': { required: true } },
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    });
    expect(merged.components?.schemas?.Problem).toMatchObject({
      type: 'object',
      required: ['type', 'title', 'status', 'detail'],
    });
  });

  it('knows the methods each path declares, for 405 answers', () => {
    const methods = methodIndex(merged);
    expect(methods.at('/api/v1/products/7')).toEqual(['GET', 'HEAD', 'PATCH']);
    expect(methods.at('/api/v1/orders')).toEqual(['POST']);
    expect(methods.at('/api/v1/nothing')).toBeUndefined();
  });

  it('adds the bearer scheme, required unless an operation is public', () => {
    expect(merged.components?.securitySchemes?.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    expect(merged.security).toEqual([{ bearerAuth: [] }]);
    expect(merged.paths?.['/api/v1/products/{id}']?.get.security).toEqual([]);
    expect(merged.paths?.['/api/v1/products/{id}']?.patch.security).toBeUndefined();
    expect(merged.paths?.['/api/v1/products']?.post.security).toBeUndefined();
    expect(merged.paths?.['/api/v1/orders']?.post.security).toBeUndefined();
  });

  it('shares identical components and renames clashing ones, with their references', () => {
    expect(merged.components?.schemas?.Money).toEqual(money);
    expect(merged.components?.schemas?.Error).toEqual({ type: 'object', title: 'inventory error' });
    expect(merged.components?.schemas?.orders_Error).toEqual({ type: 'object', title: 'orders error' });
    expect(merged.paths?.['/api/v1/orders']?.post.responses[400].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/orders_Error',
    });
    expect(merged.components?.responses?.Page.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
  });

  it('merges tags and says where each part came from', () => {
    expect(merged.tags?.map((tag) => tag.name)).toEqual(['products', 'orders']);
    expect(merged['x-upstreams']).toEqual({
      inventory: 'fresh',
      orders: 'stale',
      notifications: 'unavailable',
    });
    expect(merged.info).toEqual(info);
  });
});

/** A dispatcher that answers /openapi.json from a script of results. */
function fakeService(script: (() => OpenApiDocument | Error)[]) {
  let calls = 0;
  const dispatcher = {
    request: async () => {
      const next = script[Math.min(calls++, script.length - 1)]!();
      if (next instanceof Error) throw next;
      return { statusCode: 200, body: { json: async () => next, dump: async () => undefined } };
    },
  } as unknown as Dispatcher;
  return { dispatcher, calls: () => calls };
}

describe('the OpenAPI aggregator', () => {
  it("caches for the TTL, serves stale while refreshing, and keeps a service's last good document", async () => {
    let now = 0;
    const down = new Error('connect ECONNREFUSED');
    const inventoryService = fakeService([() => inventory, () => down]);
    const ordersService = fakeService([() => down, () => orders]);
    const aggregator = new OpenApiAggregator({
      sources: [
        { upstream: 'inventory', prefixes: ['/api/v1/products'], dispatcher: inventoryService.dispatcher },
        { upstream: 'orders', prefixes: ['/api/v1/orders'], dispatcher: ordersService.dispatcher },
      ],
      info,
      ttlMs: 1000,
      logger: testLogger(),
      now: () => now,
    });
    expect(aggregator.current()).toBeUndefined();

    const [first, concurrent] = await Promise.all([aggregator.document(), aggregator.document()]);
    expect(concurrent).toBe(first);
    expect(inventoryService.calls()).toBe(1);
    expect(first['x-upstreams']).toEqual({ inventory: 'fresh', orders: 'unavailable' });

    now = 500;
    expect(await aggregator.document()).toBe(first);
    expect(inventoryService.calls()).toBe(1);

    now = 1500;
    expect(await aggregator.document()).toBe(first); // stale, served at once
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = aggregator.current()!;
    expect(second['x-upstreams']).toEqual({ inventory: 'stale', orders: 'fresh' });
    expect(Object.keys(second.paths ?? {})).toEqual(
      expect.arrayContaining(['/api/v1/products', '/api/v1/orders']),
    );
  });
});
