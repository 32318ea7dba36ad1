// kill -9 a service while sagas are in flight, restart it, and every order still
// reaches CONFIRMED or CANCELLED with stock and payments consistent.
import { configFromEnv, type Order, ShopClient } from '@shop/smoke';
import { infra } from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkInvariants,
  DEFAULT_ADMIN_EMAIL,
  DEFAULT_ADMIN_PASSWORD,
  formatInvariants,
  type ServiceName,
  stockSnapshot,
} from '../src/index.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let system: TestStack;
let admin: ShopClient;
const config = () => ({
  ...configFromEnv({}),
  baseUrl: system.stack.url('gateway'),
  adminEmail: DEFAULT_ADMIN_EMAIL,
  adminPassword: DEFAULT_ADMIN_PASSWORD,
  orderTimeoutMs: 180_000,
});

beforeAll(async () => {
  system = await startTestStack('crash');
  admin = await ShopClient.admin(config());
});
afterAll(async () => {
  await system?.stop();
});

async function invariantsHold() {
  const { databases } = system;
  const results = await checkInvariants(
    {
      databases: {
        inventory: databases.inventory.url,
        orders: databases.orders.url,
        payments: databases.payments.url,
        notifications: databases.notifications.url,
        users: databases.users.url,
        shipping: databases.shipping.url,
      },
      providerUrl: system.stack.url('payment-provider'),
      providerApiKey: 'sk_test_shop_simulator',
      kafkaBrokers: infra().kafkaBrokers,
      topicPrefix: system.prefix,
    },
    initialStock,
  );
  return results;
}

let initialStock: Map<string, number>;

const address = {
  name: 'Grace Hopper',
  line1: '1 Navy Way',
  city: 'Arlington',
  postalCode: '22202',
  country: 'US',
};

describe.each(['orders', 'inventory', 'payments', 'shipping'] as ServiceName[])(
  'kill -9 %s mid-saga',
  (victim) => {
    it('finishes every order consistently after the restart', async () => {
      const products = await Promise.all([admin.createProduct(30, 700), admin.createProduct(5, 1500)]);
      // This round's products only: earlier rounds sold from theirs.
      const snapshot = await stockSnapshot(system.databases.inventory.url);
      initialStock = new Map(products.map((p) => [p.id, snapshot.get(p.id)!]));
      const customers = await Promise.all(Array.from({ length: 3 }, () => ShopClient.signUp(config())));
      const tokens = ['tok_visa', 'tok_visa', 'tok_decline'];
      const placed = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          customers[i % 3]!.placeOrder(
            [{ productId: products[i % 2]!.id, quantity: 1 + (i % 3) }],
            tokens[i % tokens.length]!,
            undefined,
            // Half of them ship (/api/v2), so the saga's shipping step is in flight too.
            i % 4 < 2 ? address : undefined,
          ),
        ),
      );
      expect(placed.every((p) => p.status === 202)).toBe(true);

      system.stack.crash(victim);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await system.stack.restart(victim);

      const finals: Order[] = await Promise.all(
        placed.map((p, i) => customers[i % 3]!.finalOrder(p.body.id)),
      );
      expect(finals.every((o) => o.status === 'CONFIRMED' || o.status === 'CANCELLED')).toBe(true);
      // The crash must not cost an order it did not have to: the restarted service takes its
      // partitions back well inside the saga's step deadlines, so every order paid by a good card
      // for the well-stocked product (30 in stock, 24 at most ordered) is CONFIRMED.
      const shouldConfirm = placed
        .map((_, i) => i)
        .filter((i) => i % 2 === 0 && tokens[i % tokens.length] === 'tok_visa');
      expect(shouldConfirm.map((i) => `${i}:${finals[i]!.status}`)).toEqual(
        shouldConfirm.map((i) => `${i}:CONFIRMED`),
      );

      // Notifications and the outbox settle just after the last order does.
      let results = await invariantsHold();
      for (let i = 0; i < 30 && results.some((r) => !r.ok); i++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        results = await invariantsHold();
      }
      process.stdout.write(`after killing ${victim}:\n${formatInvariants(results)}\n`);
      expect(
        results.filter((r) => !r.ok),
        formatInvariants(results),
      ).toEqual([]);
    });
  },
);

describe('inventory stopped', () => {
  it('the catalogue still reads, marked stale by the gateway; placing an order answers 503 with Retry-After and places nothing', async () => {
    const product = await admin.createProduct(5, 4200);
    const customer = await ShopClient.signUp(config());
    const fresh = await customer.call('GET', `/api/v1/products/${product.id}`);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('cache-status')).toBeNull();

    system.stack.crash('inventory');
    try {
      const stale = await customer.call('GET', `/api/v1/products/${product.id}`);
      expect(stale.status).toBe(200);
      expect(stale.body).toEqual(fresh.body);
      expect(stale.headers.get('age')).toMatch(/^\d+$/);
      expect(stale.headers.get('cache-status')).toMatch(
        /^shop-gateway; hit; ttl=-?\d+; .*detail="inventory /,
      );

      // The price an order is placed at is never a kept one: orders asks inventory, and cannot.
      const placed = await customer.call('POST', '/api/v1/orders', {
        body: { items: [{ productId: product.id, quantity: 1 }], payment: { token: 'tok_visa' } },
        headers: { 'idempotency-key': crypto.randomUUID() },
      });
      expect(placed.status).toBe(503);
      expect(placed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(Number(placed.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(placed.headers.get('cache-status')).toBeNull();
      const mine = await customer.call<{ items: unknown[] }>('GET', '/api/v1/orders');
      expect(mine.body.items).toEqual([]);
    } finally {
      await system.stack.restart('inventory');
    }
    expect(
      (await customer.call('GET', `/api/v1/products/${product.id}`)).headers.get('cache-status'),
    ).toBeNull();
  });
});
