// The product API against a real database with the service's migrations.

import type { Database } from '@shop/platform';
import {
  asGateway,
  createServiceDatabase,
  TEST_SERVICE_SECRET,
  type TestDatabase,
  testLogger,
  testUser,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createDatabase, type PrismaClient } from '../src/db.js';

let db: TestDatabase;
let prisma: PrismaClient;
let database: Database;
let app: ReturnType<typeof buildApp>;
const admin = testUser('admin');
const customer = testUser('customer');

beforeAll(async () => {
  db = await createServiceDatabase('inventory');
  ({ database, prisma } = createDatabase(db.url, 4));
  app = buildApp({ prisma, database, logger: testLogger(), serviceTokenSecrets: [TEST_SERVICE_SECRET] });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

const create = async (body: Record<string, unknown>, user = admin) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: await asGateway('inventory', user),
    payload: body,
  });
const get = async (url: string) => app.inject({ method: 'GET', url, headers: await asGateway('inventory') });
const product = (sku: string, extra: Record<string, unknown> = {}) => ({
  sku,
  name: `Product ${sku}`,
  description: 'A thing',
  priceCents: 1299,
  currency: 'EUR',
  initialStock: 10,
  ...extra,
});

describe('products API', () => {
  it('lets an admin create a product and anyone read it with its available stock', async () => {
    const created = await create(product('MUG-1'));
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toEqual({
      id: expect.any(String),
      sku: 'MUG-1',
      name: 'Product MUG-1',
      description: 'A thing',
      priceCents: 1299,
      currency: 'EUR',
      available: 10,
    });
    expect(created.headers.location).toBe(`/api/v1/products/${body.id}`);
    expect((await get(`/api/v1/products/${body.id}`)).json()).toEqual(body);
  });

  it('refuses a customer (403), a duplicate SKU (409) and invalid fields (400) without writing anything', async () => {
    const before = await prisma.product.count();
    expect((await create(product('MUG-2'), customer)).statusCode).toBe(403);
    await create(product('DUP-1'));
    const duplicate = await create(product('DUP-1'));
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().detail).toContain('DUP-1');
    const invalid = await create(product('BAD', { priceCents: -5, currency: 'euro', initialStock: 1.5 }));
    expect(invalid.statusCode).toBe(400);
    expect(
      invalid
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['body.currency', 'body.initialStock', 'body.priceCents']);
    expect(await prisma.product.count()).toBe(before + 1);
  });

  it('answers 404 for an unknown product and 400 for a malformed id', async () => {
    expect((await get('/api/v1/products/6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d')).statusCode).toBe(404);
    expect((await get('/api/v1/products/not-a-uuid')).statusCode).toBe(400);
  });

  it('pages through every product exactly once with the cursor', async () => {
    for (let i = 0; i < 7; i++) await create(product(`PAGE-${i}`));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await get(`/api/v1/products?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.statusCode).toBe(200);
      const { items, nextCursor } = page.json() as { items: { sku: string }[]; nextCursor: string | null };
      expect(items.length).toBeLessThanOrEqual(3);
      seen.push(...items.map((item) => item.sku));
      cursor = nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(await prisma.product.count());
    expect(new Set(seen).size).toBe(seen.length);
    expect((await get('/api/v1/products?cursor=garbage')).statusCode).toBe(400);
  });

  it('lets an admin change price and stock, but not below what is reserved', async () => {
    const { id } = (await create(product('STOCK-1', { initialStock: 5 }))).json();
    await prisma.product.update({ where: { id }, data: { reserved: 3 } });
    const patch = async (payload: Record<string, unknown>) =>
      app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${id}`,
        headers: await asGateway('inventory', admin),
        payload,
      });
    const changed = await patch({ priceCents: 999, stock: 8 });
    expect(changed.json()).toMatchObject({ priceCents: 999, available: 5 });
    const refused = await patch({ stock: 2 });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toContain('3 units are reserved');
    expect((await patch({})).statusCode).toBe(400);
  });

  it('prices a basket: exactly the products asked for by id, as their single reads show them', async () => {
    const a = (await create(product('BASKET-A', { priceCents: 250 }))).json();
    const b = (await create(product('BASKET-B', { initialStock: 4 }))).json();
    await prisma.product.update({ where: { id: b.id }, data: { reserved: 1 } });
    const unknown = '00000000-0000-4000-8000-000000000000';
    const response = await get(`/api/v1/products?ids=${a.id},${unknown},${b.id}`);
    expect(response.statusCode).toBe(200);
    const { items, nextCursor } = response.json();
    expect(nextCursor).toBeNull();
    const byId = new Map(items.map((item: { id: string }) => [item.id, item]));
    expect([...byId.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(byId.get(a.id)).toEqual((await get(`/api/v1/products/${a.id}`)).json());
    expect(byId.get(b.id)).toEqual({ ...(await get(`/api/v1/products/${b.id}`)).json(), available: 3 });
    expect((await get(`/api/v1/products?ids=${a.id},not-an-id`)).statusCode).toBe(400);
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/products', '/api/v1/products/{id}']),
    );
  });
});
