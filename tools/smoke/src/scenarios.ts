// The smoke suite: what a customer and an admin rely on, end to end through the
// gateway. The same scenarios run against `make dev`, the stack the tests start,
// kind, and a release (helm test). They run in order; the one that trips the
// payment provider's circuit breaker goes last.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { configFromEnv, type Order, ShopClient } from './client.js';

const config = configFromEnv();
/** The rolling window of the payments service's breaker on the provider (platform http-client). */
const BREAKER_WINDOW_MS = 10_000;
let admin: ShopClient;

before(async () => {
  admin = await ShopClient.admin(config);
});

const problem = (response: { status: number; headers: Headers; body: unknown }, status: number) => {
  assert.equal(
    response.status,
    status,
    `expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`,
  );
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = response.body as { type: string; title: string; status: number; detail: string };
  assert.equal(body.status, status);
  assert.ok(body.type && body.title && body.detail, 'a problem has type, title and detail');
  return body as typeof body & { errors?: { path: string; message: string }[] };
};

describe('a customer signs up, browses, orders and pays', () => {
  it('ends CONFIRMED with a notification, and the stock goes down', async () => {
    const customer = await ShopClient.signUp(config, 'Ada');
    const me = await customer.call<{ email: string; role: string }>('GET', '/api/v1/users/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.email, customer.email);
    assert.equal(me.body.role, 'customer');

    const product = await admin.createProduct(5, 1250);
    const page = await new ShopClient(config).call<{ items: unknown[]; nextCursor: string | null }>(
      'GET',
      '/api/v1/products?limit=5',
    );
    assert.equal(page.status, 200, 'browsing needs no account');
    assert.ok(Array.isArray(page.body.items));

    const placed = await customer.placeOrder([{ productId: product.id, quantity: 2 }], 'tok_visa');
    assert.equal(placed.status, 202);
    assert.equal(placed.body.status, 'PENDING');
    assert.equal(placed.body.totalCents, 2500);

    const order = await customer.finalOrder(placed.body.id);
    assert.equal(order.status, 'CONFIRMED', `cancelled: ${order.cancellationReason}`);
    assert.equal(order.cancellationReason, null);
    assert.equal((await customer.product(product.id)).available, 3);

    const listed = await customer.call<{ items: Order[] }>('GET', '/api/v1/orders');
    assert.deepEqual(
      listed.body.items.map((o) => o.id),
      [order.id],
    );
    await customer.eventually('a notification of the confirmed order', async () => {
      const notes = await customer.call<{ items: { type: string; orderId: string | null }[] }>(
        'GET',
        '/api/v1/notifications',
      );
      return notes.body.items.find((n) => n.type === 'order.confirmed' && n.orderId === order.id);
    });
  });
});

describe('when something goes wrong, the order is cancelled and nothing is kept', () => {
  it('a declined card cancels with PAYMENT_DECLINED and restores the stock', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(3);
    const placed = await customer.placeOrder([{ productId: product.id, quantity: 2 }], 'tok_decline');
    const order = await customer.finalOrder(placed.body.id);
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.cancellationReason, 'PAYMENT_DECLINED');
    assert.equal((await customer.product(product.id)).available, 3);
    await customer.eventually('a notification of the cancelled order', async () => {
      const notes = await customer.call<{ items: { type: string; orderId: string | null }[] }>(
        'GET',
        '/api/v1/notifications',
      );
      return notes.body.items.find((n) => n.type === 'order.cancelled' && n.orderId === order.id);
    });
  });

  it('more than the stock cancels with OUT_OF_STOCK and reserves nothing', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(2);
    const placed = await customer.placeOrder([{ productId: product.id, quantity: 3 }], 'tok_visa');
    const order = await customer.finalOrder(placed.body.id);
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.cancellationReason, 'OUT_OF_STOCK');
    assert.equal((await customer.product(product.id)).available, 2);
  });
});

describe('orders that ship (/api/v2)', () => {
  const address = {
    name: 'Ada Lovelace',
    line1: '12 St James Square',
    city: 'London',
    postalCode: 'SW1Y 4JH',
    country: 'GB',
  };

  it('confirms with a scheduled shipment, and the notification gives its tracking number', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(5);
    const placed = await customer.placeOrder(
      [{ productId: product.id, quantity: 1 }],
      'tok_visa',
      undefined,
      address,
    );
    assert.equal(placed.status, 202);
    const order = await customer.finalOrder(placed.body.id, 'v2');
    assert.equal(order.status, 'CONFIRMED');
    assert.deepEqual(order.shippingAddress, address);
    assert.equal(order.shipment?.status, 'SCHEDULED');
    assert.ok(order.shipment?.carrier && order.shipment.trackingId, 'a carrier and a tracking id');
    assert.equal((await customer.product(product.id)).available, 4);
    // Support sees the same shipment in the shipping service; a customer may not look.
    const shipment = await admin.call<{ status: string; trackingId: string }>(
      'GET',
      `/api/v1/shipments/${order.id}`,
    );
    assert.equal(shipment.status, 200);
    assert.equal(shipment.body.status, 'SCHEDULED');
    assert.equal(shipment.body.trackingId, order.shipment.trackingId);
    assert.equal((await customer.call('GET', `/api/v1/shipments/${order.id}`)).status, 403);
    const confirmed = await customer.eventually('the confirmation with its tracking number', async () => {
      const notes = await customer.call<{ items: { type: string; orderId: string | null }[] }>(
        'GET',
        '/api/v1/notifications',
      );
      return notes.body.items.find((n) => n.type === 'order.confirmed' && n.orderId === order.id);
    });
    assert.ok(confirmed);
  });

  it('an address in a country no carrier serves (AQ) cancels with SHIPPING_UNAVAILABLE and holds nothing', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(5);
    const placed = await customer.placeOrder(
      [{ productId: product.id, quantity: 2 }],
      'tok_visa',
      undefined,
      {
        ...address,
        country: 'AQ',
      },
    );
    const order = await customer.finalOrder(placed.body.id, 'v2');
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.cancellationReason, 'SHIPPING_UNAVAILABLE');
    assert.equal(order.shipment, null);
    assert.equal((await customer.product(product.id)).available, 5);
  });

  it('a declined card with an address cancels with PAYMENT_DECLINED before any shipment', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(5);
    const placed = await customer.placeOrder(
      [{ productId: product.id, quantity: 1 }],
      'tok_decline',
      undefined,
      address,
    );
    const order = await customer.finalOrder(placed.body.id, 'v2');
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.cancellationReason, 'PAYMENT_DECLINED');
    assert.equal(order.shipment, null);
    assert.equal((await customer.product(product.id)).available, 5);
  });

  it('refuses an invalid address with a problem naming the field', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(1);
    const response = await customer.call('POST', '/api/v2/orders', {
      body: {
        items: [{ productId: product.id, quantity: 1 }],
        payment: { token: 'tok_visa' },
        shippingAddress: { ...address, country: 'Narnia' },
      },
      headers: { 'idempotency-key': randomUUID() },
    });
    const body = problem(response, 400);
    assert.ok(
      body.errors?.some((e) => e.path === 'body.shippingAddress.country'),
      JSON.stringify(body.errors),
    );
  });
});

describe('concurrency', () => {
  it('50 concurrent orders for the last 10 units: exactly 10 CONFIRMED and the stock exactly 0', async () => {
    const product = await admin.createProduct(10, 500);
    const customers = await Promise.all(Array.from({ length: 5 }, () => ShopClient.signUp(config)));
    const placed = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        customers[i % customers.length]!.placeOrder([{ productId: product.id, quantity: 1 }], 'tok_visa'),
      ),
    );
    assert.deepEqual(new Set(placed.map((p) => p.status)), new Set([202]));
    const finals = await Promise.all(
      placed.map((p, i) => customers[i % customers.length]!.finalOrder(p.body.id)),
    );
    const confirmed = finals.filter((o) => o.status === 'CONFIRMED');
    const cancelled = finals.filter((o) => o.status === 'CANCELLED');
    assert.equal(confirmed.length, 10);
    assert.equal(cancelled.length, 40);
    assert.deepEqual(
      new Set(cancelled.map((o) => o.cancellationReason)),
      new Set(['OUT_OF_STOCK']),
      'every refused order was refused for lack of stock',
    );
    assert.equal((await admin.product(product.id)).available, 0);
  });

  it('a retried order with the same Idempotency-Key is the same order; another body with that key is refused', async () => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(10);
    const key = randomUUID();
    const items = [{ productId: product.id, quantity: 1 }];
    const first = await customer.placeOrder(items, 'tok_visa', key);
    const retry = await customer.placeOrder(items, 'tok_visa', key);
    assert.equal(first.status, 202);
    assert.equal(retry.status, 202);
    assert.equal(retry.body.id, first.body.id);
    problem(await customer.placeOrder([{ productId: product.id, quantity: 2 }], 'tok_visa', key), 422);
    await customer.finalOrder(first.body.id);
    assert.equal((await customer.product(product.id)).available, 9, 'one order, one unit');
  });
});

describe('auth and validation failures are clear problems', () => {
  it('refuses missing, bad and insufficient credentials', async () => {
    const anonymous = new ShopClient(config);
    problem(await anonymous.call('GET', '/api/v1/orders'), 401);
    problem(await anonymous.call('GET', '/api/v1/users/me', { token: 'not-a-token' }), 401);
    const customer = await ShopClient.signUp(config);
    problem(
      await customer.call('POST', '/api/v1/products', {
        body: { sku: 'X', name: 'X', description: '', priceCents: 1, currency: 'EUR', initialStock: 1 },
      }),
      403,
    );
    problem(
      await anonymous.call('POST', '/api/v1/auth/login', {
        body: { email: customer.email, password: 'wrong-password' },
      }),
      401,
    );
    problem(
      await anonymous.call('POST', '/api/v1/auth/register', {
        body: { email: customer.email, password: 'another-password', name: 'Twin' },
      }),
      409,
    );
  });

  it("hides another customer's order", async () => {
    const owner = await ShopClient.signUp(config);
    const other = await ShopClient.signUp(config);
    const product = await admin.createProduct(1);
    const placed = await owner.placeOrder([{ productId: product.id, quantity: 1 }], 'tok_decline');
    problem(await other.call('GET', `/api/v1/orders/${placed.body.id}`), 404);
    await owner.finalOrder(placed.body.id);
  });

  it('explains invalid input field by field and changes nothing', async () => {
    const customer = await ShopClient.signUp(config);
    const before = await customer.call<{ items: Order[] }>('GET', '/api/v1/orders');
    const invalid = problem(
      await customer.call('POST', '/api/v1/orders', {
        body: { items: [{ productId: 'nope', quantity: -1 }], payment: {} },
        headers: { 'idempotency-key': randomUUID() },
      }),
      400,
    );
    assert.ok(invalid.errors && invalid.errors.length >= 2, 'each invalid field is listed');
    assert.ok(invalid.errors.every((e) => e.path && e.message));
    const noKey = problem(
      await customer.call('POST', '/api/v1/orders', {
        body: { items: [{ productId: randomUUID(), quantity: 1 }], payment: { token: 'tok_visa' } },
      }),
      400,
    );
    assert.ok(noKey.detail);
    problem(await customer.call('GET', '/api/v1/no-such-thing'), 404);
    problem(
      await customer.call('POST', '/api/v1/orders', {
        raw: 'items=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': randomUUID() },
      }),
      415,
    );
    problem(
      await customer.call('POST', '/api/v1/orders', {
        body: {
          items: [{ productId: randomUUID(), quantity: 1 }],
          payment: { token: 'x'.repeat(2_000_000) },
        },
        headers: { 'idempotency-key': randomUUID() },
      }),
      413,
    );
    const after = await customer.call<{ items: Order[] }>('GET', '/api/v1/orders');
    assert.equal(after.body.items.length, before.body.items.length);
  });
});

describe('a payment provider that never answers', () => {
  it('cancels the order with PAYMENT_UNAVAILABLE, restores the stock, and the breaker shows in the metrics', async (t) => {
    const customer = await ShopClient.signUp(config);
    const product = await admin.createProduct(4);
    // The breaker judges the calls of its last 10 s (the payments client's rolling window): let the
    // earlier scenarios' successful calls age out, so these two orders' six timeouts are what it sees.
    if (config.paymentsUrl) await new Promise((resolve) => setTimeout(resolve, BREAKER_WINDOW_MS));
    // Two at once: enough failed calls for the breaker to open.
    const placed = await Promise.all([
      customer.placeOrder([{ productId: product.id, quantity: 1 }], 'tok_timeout'),
      customer.placeOrder([{ productId: product.id, quantity: 1 }], 'tok_timeout'),
    ]);
    const finals = await Promise.all(placed.map((p) => customer.finalOrder(p.body.id)));
    for (const order of finals) {
      assert.equal(order.status, 'CANCELLED');
      assert.equal(order.cancellationReason, 'PAYMENT_UNAVAILABLE');
    }
    assert.equal((await customer.product(product.id)).available, 4);

    if (!config.paymentsUrl) {
      t.skip('set SMOKE_PAYMENTS_URL to the payments service to check its circuit breaker metrics');
      return;
    }
    const metrics = await (await fetch(`${config.paymentsUrl}/metrics`)).text();
    assert.match(metrics, /http_client_breaker_state\{[^}]*upstream="payment-provider"[^}]*\} [012]/);
    const timeouts = metrics.match(/http_client_requests_total\{[^}]*outcome="timeout"[^}]*\} (\d+)/);
    assert.ok(timeouts && Number(timeouts[1]) > 0, 'timeouts to the provider are counted');
    assert.match(
      metrics,
      /http_client_requests_total\{[^}]*outcome="breaker-open"[^}]*\} [1-9]/,
      'the breaker opened',
    );
  });
});
