// The notification list API against a real database with the service's migrations.
import { randomUUID } from 'node:crypto';
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

beforeAll(async () => {
  db = await createServiceDatabase('notifications');
  ({ database, prisma } = createDatabase(db.url, 4));
  app = buildApp({ prisma, logger: testLogger(), serviceTokenSecrets: [TEST_SERVICE_SECRET] });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

interface Item {
  id: string;
  type: string;
  orderId: string | null;
  createdAt: string;
}

const list = async (user: ReturnType<typeof testUser> | undefined, query = '') =>
  app.inject({
    method: 'GET',
    url: `/api/v1/notifications${query}`,
    headers: await asGateway('notifications', user),
  });

/** Seeds notifications for a user at given times (ms after a base instant); returns them newest first. */
async function seed(userId: string, offsetsMs: number[]) {
  const base = Date.parse('2026-05-01T10:00:00.000Z');
  const rows = offsetsMs.map((offset, index) => {
    const order = index % 2 === 1;
    return {
      id: randomUUID(),
      userId,
      type: order ? 'order.confirmed' : 'user.registered',
      orderId: order ? randomUUID() : null,
      subject: 'subject',
      body: 'body',
      sourceMessageId: randomUUID(),
      createdAt: new Date(base + offset),
    };
  });
  await prisma.notification.createMany({ data: rows });
  return rows
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
    .map((row) => ({
      id: row.id,
      type: row.type,
      orderId: row.orderId,
      createdAt: row.createdAt.toISOString(),
    }));
}

describe('GET /api/v1/notifications', () => {
  it("lists only the caller's own notifications, newest first", async () => {
    const me = testUser();
    const someoneElse = testUser();
    const mine = await seed(me.id, [0, 3000, 1000, 2000]);
    await seed(someoneElse.id, [500, 1500]);
    const response = await list(me);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ items: mine, nextCursor: null });
    expect(mine.map((item) => item.createdAt)).toEqual([
      '2026-05-01T10:00:03.000Z',
      '2026-05-01T10:00:02.000Z',
      '2026-05-01T10:00:01.000Z',
      '2026-05-01T10:00:00.000Z',
    ]);
  });

  it('is empty for a user who was never notified', async () => {
    expect((await list(testUser())).json()).toEqual({ items: [], nextCursor: null });
  });

  it('pages through every notification exactly once, also across equal timestamps', async () => {
    const me = testUser();
    // Several share a millisecond, so a page boundary falls between equal createdAt values.
    const expected = await seed(me.id, [0, 0, 0, 5, 5, 7, 9, 9, 9, 9, 12]);
    await seed(testUser().id, [0, 5, 9]);
    const seen: Item[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await list(me, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.statusCode).toBe(200);
      const page = response.json() as { items: Item[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(pages).toBe(4);
    // A page that ends exactly at the last item says there is no next one.
    const exact = (await list(me, '?limit=11')).json();
    expect(exact.items).toHaveLength(11);
    expect(exact.nextCursor).toBeNull();
  });

  it('defaults to 20 items a page', async () => {
    const me = testUser();
    await seed(
      me.id,
      Array.from({ length: 21 }, (_, i) => i),
    );
    const page = (await list(me)).json();
    expect(page.items).toHaveLength(20);
    expect(page.nextCursor).toEqual(expect.any(String));
  });

  it('answers 401 without a signed-in user, whatever the query', async () => {
    for (const response of [
      await list(undefined),
      await list(undefined, '?limit=0'),
      await app.inject({ method: 'GET', url: '/api/v1/notifications' }),
    ]) {
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('answers 400 with the culprit for a bad limit or a cursor it did not hand out', async () => {
    const me = testUser();
    for (const query of ['?limit=0', '?limit=101', '?limit=abc', '?limit=2.5']) {
      const response = await list(me, query);
      expect(response.statusCode, query).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json().errors.map((e: { path: string }) => e.path)).toEqual(['querystring.limit']);
    }
    for (const cursor of [
      'garbage',
      Buffer.from('["yesterday","x"]').toString('base64url'),
      'x'.repeat(201),
    ]) {
      const response = await list(me, `?cursor=${cursor}`);
      expect(response.statusCode, cursor).toBe(400);
      expect(response.json().errors.map((e: { path: string }) => e.path)).toEqual(['querystring.cursor']);
    }
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toContain('/api/v1/notifications');
  });
});
