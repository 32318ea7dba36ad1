// One order, one trace: from the gateway through orders, over Kafka to
// inventory and payments, and on to notifications, as a collector receives it.
import { randomBytes, randomUUID } from 'node:crypto';
import { configFromEnv, type Order, ShopClient } from '@shop/smoke';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from '../src/index.js';
import { OtlpReceiver } from './support/otlp-receiver.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const receiver = new OtlpReceiver();
let system: TestStack;

beforeAll(async () => {
  const endpoint = await receiver.start();
  system = await startTestStack('trace', {
    env: {
      OTEL_SDK_DISABLED: 'false',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
  });
});
afterAll(async () => {
  await system?.stop();
  await receiver.stop();
});

it('follows one order across every service in a single trace', async () => {
  const config = {
    ...configFromEnv({}),
    baseUrl: system.stack.url('gateway'),
    adminEmail: DEFAULT_ADMIN_EMAIL,
    adminPassword: DEFAULT_ADMIN_PASSWORD,
  };
  const admin = await ShopClient.admin(config);
  const customer = await ShopClient.signUp(config);
  const product = await admin.createProduct(3);
  // The client starts the trace, as a traced front end would; the gateway continues it.
  const traceId = randomBytes(16).toString('hex');
  const placed = await customer.call<Order>('POST', '/api/v1/orders', {
    body: { items: [{ productId: product.id, quantity: 1 }], payment: { token: 'tok_visa' } },
    headers: {
      'idempotency-key': randomUUID(),
      traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    },
  });
  expect(placed.status).toBe(202);
  const order = await customer.finalOrder(placed.body.id);
  expect(order.status).toBe('CONFIRMED');
  const expected = ['gateway', 'orders', 'inventory', 'payments', 'notifications'];
  const services = await customer
    .eventually(
      'spans of every service in the order trace',
      async () => {
        const spans = receiver.trace(traceId);
        const seen = new Set(spans.map((span) => span.service));
        // Consumer spans end after their handler's own spans, so they may arrive in a later batch.
        const notified = spans.some((span) => span.service === 'notifications' && span.kind === 5);
        return expected.every((service) => seen.has(service)) && notified ? seen : undefined;
      },
      30_000,
    )
    .catch((error: Error) => {
      const describe = (spans: typeof receiver.spans) =>
        spans.map((s) => `${s.service} ${s.kind} ${s.name} ${s.traceId.slice(0, 8)}`).join('\n');
      throw new Error(
        `${error.message}\ntrace ${traceId}:\n${describe(receiver.trace(traceId))}\n\nall (${receiver.spans.length}):\n${describe(receiver.spans.slice(-60))}`,
      );
    });
  expect([...services].sort()).toEqual(expect.arrayContaining(expected.sort()));

  const spans = receiver.trace(traceId);
  // Kafka hops are in it: the consumers' spans, parented by the work that sent the message.
  const consumed = spans.filter((span) => span.kind === 5).map((span) => `${span.service}: ${span.name}`);
  expect(consumed.join('\n')).toMatch(/inventory: .*inventory\.commands process/);
  expect(consumed.join('\n')).toMatch(/payments: .*payments\.commands process/);
  expect(consumed.join('\n')).toMatch(/orders: .*(inventory|payments)\.replies process/);
  expect(consumed.join('\n')).toMatch(/notifications: .*orders\.events process/);
  // One connected tree under the client's span: every other span's parent is in the trace.
  const ids = new Set(spans.map((span) => span.spanId));
  const roots = spans.filter((span) => !ids.has(span.parentSpanId));
  expect(roots.map((s) => `${s.service}: ${s.name}`)).toHaveLength(1);
});
