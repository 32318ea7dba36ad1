// Placing and reading orders against a real database, with prices from a real
// inventory app (its own database) over HTTP.
import { randomUUID } from 'node:crypto';
import { buildMessage } from '@shop/contracts';
import { type Database, RetentionSweeper, ServiceClient, ServiceTokens } from '@shop/platform';
import {
  asGateway,
  createServiceDatabase,
  handleInTransaction,
  TEST_SERVICE_SECRET,
  type TestDatabase,
  testLogger,
  testUser,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp as buildInventory } from '../../inventory/src/app.js';
import { createDatabase as createInventoryDatabase } from '../../inventory/src/db.js';
import { buildApp } from '../src/app.js';
import { Catalog } from '../src/catalog.js';
import { createDatabase, type PrismaClient } from '../src/db.js';
import { OrderWatch } from '../src/order-watch.js';
import { uniformTimeouts } from '../src/saga/deadlines.js';
import { OrderSaga } from '../src/saga/orchestrator.js';

const timeouts = uniformTimeouts(60_000, 5000, 60_000);
let ordersDb: TestDatabase;
let inventoryDb: TestDatabase;
let database: Database;
let prisma: PrismaClient;
let watch: OrderWatch;
let inventoryDatabase: Database;
let inventoryPrisma: ReturnType<typeof createInventoryDatabase>['prisma'];
const saga = new OrderSaga(timeouts, testLogger());
let inventory: ReturnType<typeof buildInventory>;
let app: ReturnType<typeof buildApp>;
let client: ServiceClient;
let mug: string;
let tea: string;
let dollars: string;
const alice = testUser();
const bob = testUser();

beforeAll(async () => {
  [ordersDb, inventoryDb] = await Promise.all([
    createServiceDatabase('orders'),
    createServiceDatabase('inventory'),
  ]);
  ({ database, prisma } = createDatabase(ordersDb.url, 8));
  watch = new OrderWatch(database.pool.options, testLogger());
  ({ database: inventoryDatabase, prisma: inventoryPrisma } = createInventoryDatabase(inventoryDb.url, 4));
  inventory = buildInventory({
    prisma: inventoryPrisma,
    database: inventoryDatabase,
    logger: testLogger(),
    serviceTokenSecrets: [TEST_SERVICE_SECRET],
  });
  await inventory.listen({ port: 0, host: '127.0.0.1' });
  const product = (sku: string, priceCents: number, currency = 'EUR') =>
    inventoryPrisma.product.create({ data: { sku, name: sku, priceCents, currency, onHand: 100 } });
  mug = (await product('MUG', 1200)).id;
  tea = (await product('TEA', 450)).id;
  dollars = (await product('USD-THING', 999, 'USD')).id;
  client = new ServiceClient({
    upstream: 'inventory',
    baseUrl: `http://127.0.0.1:${(inventory.server.address() as { port: number }).port}`,
    tokens: new ServiceTokens('orders', [TEST_SERVICE_SECRET]),
    retries: 0,
  });
  app = buildApp({
    database,
    prisma,
    watch,
    maxWaitMs: 8000,
    catalog: new Catalog(client),
    saga,
    logger: testLogger(),
    serviceTokenSecrets: [TEST_SERVICE_SECRET],
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await client.close();
  await inventory.close();
  await watch.close();
  await prisma.$disconnect();
  await inventoryPrisma.$disconnect();
  await database.close();
  await inventoryDatabase.close();
  await Promise.all([ordersDb.drop(), inventoryDb.drop()]);
});

const place = async (body: unknown, key: string | null = randomUUID(), user = alice) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: { ...(await asGateway('orders', user)), ...(key ? { 'idempotency-key': key } : {}) },
    payload: body as Record<string, unknown>,
  });
const basket = (
  items = [
    { productId: mug, quantity: 2 },
    { productId: tea, quantity: 1 },
  ],
  token = 'tok_visa',
) => ({
  items,
  payment: { token },
});
const outboxTypes = async (orderId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: orderId }, orderBy: { id: 'asc' } })).map(
    (m) => m.type,
  );

describe('POST /api/v1/orders', () => {
  it('accepts an order as PENDING, priced from the catalogue, and starts its saga', async () => {
    const response = await place(basket());
    expect(response.statusCode).toBe(202);
    const order = response.json();
    expect(order).toMatchObject({
      status: 'PENDING',
      userId: alice.id,
      totalCents: 2 * 1200 + 450,
      currency: 'EUR',
      cancellationReason: null,
    });
    expect(response.headers.location).toBe(`/api/v1/orders/${order.id}`);
    expect(await outboxTypes(order.id)).toEqual(['order.created', 'stock.reserve']);
    const row = await prisma.order.findUniqueOrThrow({ where: { id: order.id } });
    expect(row.sagaStep).toBe('RESERVING_STOCK');
    expect(row.stepDeadline!.getTime()).toBeGreaterThan(Date.now());
  });

  it('returns the same order for a retry with the same key and body, and refuses the key with another body', async () => {
    const key = randomUUID();
    const first = (await place(basket(), key)).json();
    const retry = await place(basket(), key);
    expect(retry.statusCode).toBe(202);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json().id).toBe(first.id);
    const other = await place(basket([{ productId: mug, quantity: 5 }]), key);
    expect(other.statusCode).toBe(422);
    expect(other.headers['content-type']).toMatch(/problem\+json/);
    // The same key belongs to each user separately.
    expect((await place(basket(), key, bob)).json().id).not.toBe(first.id);
    expect(await prisma.order.count({ where: { userId: alice.id, id: first.id } })).toBe(1);
  });

  it('creates one order when the same request races itself', async () => {
    const key = randomUUID();
    const responses = await Promise.all(Array.from({ length: 8 }, () => place(basket(), key)));
    expect(new Set(responses.map((r) => r.statusCode))).toEqual(new Set([202]));
    expect(new Set(responses.map((r) => r.json().id)).size).toBe(1);
    expect(await prisma.idempotencyKey.count({ where: { key } })).toBe(1);
  });

  it('refuses bad requests with problem+json and writes nothing', async () => {
    const before = await prisma.order.count();
    const missingKey = await place(basket(), null);
    expect(missingKey.statusCode).toBe(400);
    expect(missingKey.json().errors[0].path).toBe('headers.idempotency-key');
    const invalid = await place({ items: [{ productId: 'nope', quantity: 0 }], payment: {} });
    expect(invalid.statusCode).toBe(400);
    expect(
      invalid
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['body.items.0.productId', 'body.items.0.quantity', 'body.payment.token']);
    const unknown = await place(basket([{ productId: randomUUID(), quantity: 1 }]));
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().type).toMatch(/unknown-products$/);
    expect(
      (
        await place(
          basket([
            { productId: mug, quantity: 1 },
            { productId: dollars, quantity: 1 },
          ]),
        )
      ).statusCode,
    ).toBe(422);
    const anonymous = await app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers: { ...(await asGateway('orders')), 'idempotency-key': randomUUID() },
      payload: basket(),
    });
    expect(anonymous.statusCode).toBe(401);
    expect(await prisma.order.count()).toBe(before);
  });

  it('answers 503 with Retry-After when prices cannot be checked, and writes nothing', async () => {
    const offline = buildApp({
      database,
      prisma,
      watch,
      maxWaitMs: 8000,
      catalog: new Catalog(
        new ServiceClient({ upstream: 'inventory', baseUrl: 'http://127.0.0.1:1', retries: 0 }),
      ),
      saga: new OrderSaga(timeouts, testLogger()),
      logger: testLogger(),
      serviceTokenSecrets: [TEST_SERVICE_SECRET],
    });
    const before = await prisma.order.count();
    const response = await offline.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers: { ...(await asGateway('orders', alice)), 'idempotency-key': randomUUID() },
      payload: basket(),
    });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('2');
    expect(await prisma.order.count()).toBe(before);
    await offline.close();
  });
});

describe('GET /api/v1/orders', () => {
  it("shows a user their own order and hides anyone else's", async () => {
    const order = (await place(basket())).json();
    const mine = await app.inject({
      method: 'GET',
      url: `/api/v1/orders/${order.id}`,
      headers: await asGateway('orders', alice),
    });
    expect(mine.json()).toEqual(order);
    const theirs = await app.inject({
      method: 'GET',
      url: `/api/v1/orders/${order.id}`,
      headers: await asGateway('orders', bob),
    });
    expect(theirs.statusCode).toBe(404);
  });

  it('lists the caller’s orders newest first, page by page', async () => {
    const carol = testUser();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await place(basket(), randomUUID(), carol)).json().id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await app.inject({
        method: 'GET',
        url: `/api/v1/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        headers: await asGateway('orders', carol),
      });
      const body = page.json() as { items: { id: string }[]; nextCursor: string | null };
      seen.push(...body.items.map((o) => o.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids.reverse());
  });
});

/** The saga's replies, as its consumer would hand them over, to move an order to CONFIRMED. */
async function confirm(orderId: string): Promise<void> {
  const paymentId = randomUUID();
  const reply = (type: 'stock.reserved' | 'payment.authorized' | 'payment.captured') =>
    buildMessage(type, orderId, { orderId, paymentId } as never, { source: 'test' });
  await handleInTransaction(database, saga.handling(), [
    reply('stock.reserved'),
    reply('payment.authorized'),
    reply('payment.captured'),
  ]);
}

describe('waiting for the outcome', () => {
  const get = async (id: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'GET',
      url: `/api/v1/orders/${id}`,
      headers: { ...(await asGateway('orders', alice)), ...headers },
    });

  it('with Prefer: wait=N, answers once the order is final, not before', async () => {
    const order = (await place(basket())).json();
    let answered = false;
    const waiting = get(order.id, { prefer: 'wait=8' }).then((response) => {
      answered = true;
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    await confirm(order.id);
    const response = await waiting;
    expect(response.statusCode).toBe(200);
    expect(response.headers['preference-applied']).toBe('wait=8');
    expect(response.json()).toMatchObject({ id: order.id, status: 'CONFIRMED' });
  });

  it('answers PENDING when the wait runs out, caps the wait, and answers at once without Prefer', async () => {
    const order = (await place(basket())).json();
    const plain = await get(order.id);
    expect(plain.json().status).toBe('PENDING');
    expect(plain.headers['preference-applied']).toBeUndefined();
    const waited = await get(order.id, { prefer: 'respond-async, wait=1' });
    expect(waited.json().status).toBe('PENDING');
    expect(waited.headers['preference-applied']).toBe('wait=1');
    expect(watch.waiting).toBe(0);
  });

  it("waits for no one else's order: 404 at once", async () => {
    const order = (await place(basket())).json();
    const theirs = await app.inject({
      method: 'GET',
      url: `/api/v1/orders/${order.id}`,
      headers: { ...(await asGateway('orders', bob)), prefer: 'wait=5' },
    });
    expect(theirs.statusCode).toBe(404);
  });

  it('streams the order as Server-Sent Events until it is final, and a reconnect gets the current state', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const order = (await place(basket())).json();
    const headers = await asGateway('orders', alice);
    const events = async (signal?: AbortSignal) => {
      const response = await fetch(`${base}/api/v1/orders/${order.id}/events`, {
        headers,
        ...(signal ? { signal } : {}),
      });
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      return response;
    };
    // A client that drops its connection while the order is pending loses nothing...
    const dropped = new AbortController();
    const first = await events(dropped.signal);
    const reader = first.body!.getReader();
    const chunk = new TextDecoder().decode((await reader.read()).value);
    expect(chunk).toMatch(/^event: order\ndata: .*"status":"PENDING"/);
    dropped.abort();
    await confirm(order.id);
    // ...it reconnects and gets the current state, and the stream ends since the order is final.
    const text = await (await events()).text();
    const data = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!));
    expect(data.map((o) => o.status)).toEqual(['CONFIRMED']);
    // A live stream sees the change as it happens.
    const next = (await place(basket())).json();
    const live = fetch(`${base}/api/v1/orders/${next.id}/events`, { headers }).then((r) => r.text());
    await new Promise((resolve) => setTimeout(resolve, 300));
    await confirm(next.id);
    const statuses = [...(await live).matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).status);
    expect(statuses).toEqual(['PENDING', 'CONFIRMED']);
  });
});

describe('idempotency keys', () => {
  it('are forgotten after their retention: a key reused then places a new order', async () => {
    const key = randomUUID();
    const first = (await place(basket(), key)).json();
    await database.query(
      `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`,
      [key],
    );
    const sweeper = new RetentionSweeper(
      database,
      [{ table: 'idempotency_keys', column: 'created_at', keepMs: 24 * 3_600_000 }],
      testLogger(),
    );
    expect((await sweeper.sweep()).idempotency_keys).toBeGreaterThanOrEqual(1);
    const again = await place(basket(), key);
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json().id).not.toBe(first.id);
    // The first order itself is kept: only the key expired.
    expect(await prisma.order.count({ where: { id: first.id } })).toBe(1);
  });
});

describe('/api/v2/orders', () => {
  const address = {
    name: 'Ada Lovelace',
    line1: '12 St James Sq',
    city: 'London',
    postalCode: 'SW1Y 4JH',
    country: 'GB',
  };
  const placeV2 = async (body: unknown, user = alice) =>
    app.inject({
      method: 'POST',
      url: '/api/v2/orders',
      headers: { ...(await asGateway('orders', user)), 'idempotency-key': randomUUID() },
      payload: body as Record<string, unknown>,
    });

  it('places an order with its shipping address, shows it in v2, and in v1 without it', async () => {
    const response = await placeV2({ ...basket(), shippingAddress: address });
    expect(response.statusCode).toBe(202);
    expect(response.headers.location).toMatch(/^\/api\/v2\/orders\//);
    const order = response.json();
    expect(order).toMatchObject({ status: 'PENDING', shippingAddress: address, shipment: null });
    // The saga runs the same first step; the address travels with the order for the shipping step.
    expect(await outboxTypes(order.id)).toEqual(['order.created', 'stock.reserve']);
    const v1 = (
      await app.inject({
        method: 'GET',
        url: `/api/v1/orders/${order.id}`,
        headers: await asGateway('orders', alice),
      })
    ).json();
    expect(v1).not.toHaveProperty('shippingAddress');
    expect(v1).not.toHaveProperty('shipment');
    expect(v1.id).toBe(order.id);
    const v2 = (
      await app.inject({
        method: 'GET',
        url: `/api/v2/orders/${order.id}`,
        headers: await asGateway('orders', alice),
      })
    ).json();
    expect(v2).toEqual(order);
    // A v1 order read through v2 has no address and no shipment.
    const old = (await place(basket())).json();
    const oldV2 = (
      await app.inject({
        method: 'GET',
        url: `/api/v2/orders/${old.id}`,
        headers: await asGateway('orders', alice),
      })
    ).json();
    expect(oldV2).toMatchObject({ id: old.id, shippingAddress: null, shipment: null });
  });

  it('refuses a missing or invalid address with problem+json naming the fields, and writes nothing', async () => {
    const before = await prisma.order.count();
    const missing = await placeV2(basket());
    expect(missing.statusCode).toBe(400);
    expect(missing.headers['content-type']).toMatch(/problem\+json/);
    expect(missing.json().errors.map((e: { path: string }) => e.path)).toContain('body.shippingAddress');
    const invalid = await placeV2({
      ...basket(),
      shippingAddress: { ...address, country: 'XX', postalCode: '' },
    });
    expect(invalid.statusCode).toBe(400);
    expect([...new Set(invalid.json().errors.map((e: { path: string }) => e.path))].sort()).toEqual([
      'body.shippingAddress.country',
      'body.shippingAddress.postalCode',
    ]);
    expect(await prisma.order.count()).toBe(before);
  });

  it('lists the caller’s orders in the v2 shape', async () => {
    const dora = testUser();
    await placeV2({ ...basket(), shippingAddress: address }, dora);
    const page = await app.inject({
      method: 'GET',
      url: '/api/v2/orders',
      headers: await asGateway('orders', dora),
    });
    expect(page.json().items).toEqual([
      expect.objectContaining({ shippingAddress: address, shipment: null }),
    ]);
  });
});
