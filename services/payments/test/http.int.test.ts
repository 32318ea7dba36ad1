// The HTTP side: reading a payment as its owner or an admin, readiness with the
// provider's breaker as detail, and the breaker and call outcomes in /metrics.
import { randomUUID } from 'node:crypto';
import { buildMessage } from '@shop/contracts';
import { type Database, databaseCheck } from '@shop/platform';
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
import { attachProvider, buildApp } from '../src/app.js';
import { createDatabase, type PrismaClient } from '../src/db.js';
import type { AuthorizeCommand } from '../src/domain/payment.js';
import { PaymentOperations } from '../src/operations.js';
import { leaseFor } from '../src/provider/budget.js';
import type { PaymentProvider } from '../src/provider/client.js';
import { authorizeCommand, PROVIDER_KEY, type RunningProvider, startProvider } from './harness.js';

let db: TestDatabase;
let pool: Database;
let prisma: PrismaClient;
let simulator: RunningProvider;
let database: ReturnType<typeof databaseCheck>;

/** An authorize command carried out as the payments process does it. */
async function authorize(provider: PaymentProvider, command: AuthorizeCommand): Promise<void> {
  const operations = new PaymentOperations({
    database: pool,
    provider,
    logger: testLogger(),
    leaseMs: leaseFor(1500, 0),
  });
  const message = buildMessage('payment.authorize', command.orderId, command, { source: 'orders' });
  await handleInTransaction(pool, operations.handling, [message]);
  await operations.stop();
}
const owner = testUser('customer');
const apps: { app: ReturnType<typeof buildApp>; provider: PaymentProvider }[] = [];

function paymentsApp(providerUrl: string) {
  const app = buildApp({ prisma, logger: testLogger(), serviceTokenSecrets: [TEST_SERVICE_SECRET] });
  app.readiness.add('database', database.check);
  const provider = attachProvider(app, {
    baseUrl: providerUrl,
    apiKey: PROVIDER_KEY,
    timeoutMs: 1500,
    retries: 0, // so the breaker test below counts one call per command
  });
  apps.push({ app, provider });
  return { app, provider };
}

beforeAll(async () => {
  db = await createServiceDatabase('payments');
  ({ database: pool, prisma } = createDatabase(db.url, 4));
  database = databaseCheck(db.url);
  simulator = await startProvider();
});
afterAll(async () => {
  for (const { app, provider } of apps) {
    await app.close();
    await provider.close();
  }
  await simulator.stop();
  await database.close();
  await prisma.$disconnect();
  await pool.close();
  await db.drop();
});

describe('GET /api/v1/payments/:orderId', () => {
  it('shows the owner and admins the payment, and everyone else a 404', async () => {
    const { app, provider } = paymentsApp(simulator.url);
    const command = authorizeCommand({ userId: owner.id, amountCents: 1234 });
    await authorize(provider, command);
    const get = async (user?: ReturnType<typeof testUser>, orderId = command.orderId) =>
      app.inject({
        method: 'GET',
        url: `/api/v1/payments/${orderId}`,
        headers: await asGateway('payments', user),
      });

    const mine = await get(owner);
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toEqual({
      paymentId: expect.any(String),
      orderId: command.orderId,
      status: 'AUTHORIZED',
      amountCents: 1234,
      currency: 'EUR',
      failureReason: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const asAdmin = await get(testUser('admin'));
    expect(asAdmin.json()).toMatchObject({
      status: 'AUTHORIZED',
      providerAuthorizationId: expect.stringMatching(/^auth_/),
    });

    const theirs = await get(testUser('customer'));
    expect(theirs.statusCode).toBe(404);
    expect(theirs.headers['content-type']).toContain('application/problem+json');
    expect((await get(owner, randomUUID())).statusCode).toBe(404);
    expect((await get(undefined)).statusCode).toBe(401); // a service token that acts for nobody
    expect((await app.inject({ method: 'GET', url: `/api/v1/payments/${command.orderId}` })).statusCode).toBe(
      401,
    );
    const malformed = await get(owner, 'not-an-order');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errors[0].path).toBe('params.orderId');
  });

  it('is in the OpenAPI document', async () => {
    const { app } = paymentsApp(simulator.url);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toContain('/api/v1/payments/{orderId}');
  });
});

describe('readiness and metrics', () => {
  it('reports the breaker as detail: ready while the provider is healthy and while it is not', async () => {
    const healthy = paymentsApp(simulator.url);
    const ready = await healthy.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({
      database: { status: 'up' },
      'payment-provider': { status: 'up', breaker: 'closed' },
    });
    const text = (await healthy.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('http_client_breaker_state{upstream="payment-provider",service="payments"} 0');

    // Nothing listens there: every call fails, and after five the breaker opens.
    const gone = await startProvider();
    await gone.stop();
    const failing = paymentsApp(gone.url);
    for (let i = 0; i < 6; i++) {
      await authorize(failing.provider, authorizeCommand());
    }
    const stillReady = await failing.app.inject({ method: 'GET', url: '/health/ready' });
    expect(stillReady.statusCode).toBe(200);
    expect(stillReady.json().checks['payment-provider']).toMatchObject({ status: 'up', breaker: 'open' });
    const metrics = (await failing.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('http_client_breaker_state{upstream="payment-provider",service="payments"} 2');
    expect(metrics).toMatch(
      /http_client_requests_total\{upstream="payment-provider",outcome="network",service="payments"\} 5/,
    );
    expect(metrics).toMatch(
      /http_client_requests_total\{upstream="payment-provider",outcome="breaker-open",service="payments"\} 1/,
    );
  });
});
