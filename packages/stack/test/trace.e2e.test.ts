// One order, one trace, found where a person would look: the order is placed
// through the gateway, and its trace is read from Jaeger (as `make dev` runs
// it) through the HTTP API its UI reads. It spans the gateway, orders, the
// Kafka hops, inventory, payments and notifications.
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { configFromEnv, type Order, ShopClient } from '@shop/smoke';
import { repoRoot } from '@shop/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from '../src/index.js';
import { Jaeger, type JaegerTrace, servicesOf, spanKindOf } from '../src/jaeger.js';
import { freePort, startTestStack, type TestStack } from './support/test-stack.js';

let jaeger: Jaeger;
let system: TestStack;

beforeAll(async () => {
  jaeger = new Jaeger({
    ports: {
      ui: await freePort(),
      otlpHttp: await freePort(),
      otlpGrpc: await freePort(),
      queryGrpc: await freePort(),
    },
    log: { file: join(repoRoot, '.run', 'e2e', `jaeger-${process.pid}.log`) },
  });
  await jaeger.start();
  system = await startTestStack('trace', {
    env: { OTEL_SDK_DISABLED: 'false', ...jaeger.exportEnv(), OTEL_BSP_SCHEDULE_DELAY: '200' },
  });
});
afterAll(async () => {
  await system?.stop();
  await jaeger?.stop();
});

const serviceOf = (trace: JaegerTrace, span: JaegerTrace['spans'][number]) =>
  trace.processes[span.processID]?.serviceName ?? '?';
const describeTrace = (trace: JaegerTrace | undefined) =>
  trace
    ? trace.spans.map((s) => `${serviceOf(trace, s)} ${spanKindOf(s) ?? '-'} ${s.operationName}`).join('\n')
    : '(no span of it in Jaeger)';

it('follows one order across every service in a single trace, in the trace viewer', async () => {
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
  let last: JaegerTrace | undefined;
  const trace = await customer
    .eventually(
      'the order trace in Jaeger with spans of every service',
      async () => {
        last = await jaeger.trace(traceId);
        if (!last) return undefined;
        const seen = servicesOf(last);
        // Consumer spans end after their handler's own spans, so they may arrive in a later batch.
        const notified = last.spans.some(
          (span) => serviceOf(last!, span) === 'notifications' && spanKindOf(span) === 'consumer',
        );
        return expected.every((service) => seen.has(service)) && notified ? last : undefined;
      },
      30_000,
    )
    .catch((error: Error) => {
      throw new Error(`${error.message}\ntrace ${traceId}:\n${describeTrace(last)}`);
    });
  expect([...servicesOf(trace)].sort()).toEqual(expect.arrayContaining(expected.sort()));

  // The gateway's request, and its call on to orders with the trace carried on.
  const gatewaySpans = trace.spans.filter((span) => serviceOf(trace, span) === 'gateway');
  expect(gatewaySpans.map(spanKindOf)).toEqual(expect.arrayContaining(['server', 'client']));

  // The Kafka hops are in it: the consumers' spans, parented by the work that sent the message.
  const consumed = trace.spans
    .filter((span) => spanKindOf(span) === 'consumer')
    .map((span) => `${serviceOf(trace, span)}: ${span.operationName}`)
    .join('\n');
  expect(consumed).toMatch(/inventory: .*inventory\.commands process/);
  expect(consumed).toMatch(/payments: .*payments\.commands process/);
  expect(consumed).toMatch(/orders: .*(inventory|payments)\.replies process/);
  expect(consumed).toMatch(/notifications: .*orders\.events process/);
  for (const span of trace.spans.filter((s) => spanKindOf(s) === 'consumer')) {
    expect(span.tags.find((tag) => tag.key === 'messaging.system')?.value).toBe('kafka');
  }

  // One connected tree under the client's span: every other span's parent is in the trace.
  const ids = new Set(trace.spans.map((span) => span.spanID));
  const roots = trace.spans.filter(
    (span) => !span.references.some((ref) => ref.refType === 'CHILD_OF' && ids.has(ref.spanID)),
  );
  expect(roots.map((s) => `${serviceOf(trace, s)}: ${s.operationName}`)).toHaveLength(1);
  expect(serviceOf(trace, roots[0]!)).toBe('gateway');
});
