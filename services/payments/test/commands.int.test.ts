// The saga's payment commands against a real database (the service's
// migrations) and the real provider simulator over HTTP on loopback.
import { randomUUID } from 'node:crypto';
import {
  createServiceDatabase,
  eventually,
  handleInTransaction,
  type TestDatabase,
  testLogger,
} from '@shop/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compensatePayment } from '../src/compensation.js';
import { createPrisma, type PrismaClient } from '../src/db.js';
import { paymentHandlers } from '../src/handlers.js';
import { authorizePayment, capturePayment } from '../src/payments.js';
import type { PaymentProvider } from '../src/provider/client.js';
import {
  authorizeCommand,
  closeProviderClients,
  heldFor,
  inTransaction,
  providerClient,
  type RunningProvider,
  sample,
  startProvider,
} from './harness.js';

let db: TestDatabase;
let prisma: PrismaClient;
let simulator: RunningProvider;
let inTx: ReturnType<typeof inTransaction>;
const log = testLogger('payments');

beforeAll(async () => {
  db = await createServiceDatabase('payments');
  prisma = createPrisma(db.url, 10);
  inTx = inTransaction(prisma);
  simulator = await startProvider();
  // Prisma's first transaction is slow (connections, query compiler); keep it out of the timings below.
  await inTx((tx) => tx.payment.count());
});
afterEach(async () => {
  await closeProviderClients();
});
afterAll(async () => {
  await simulator.stop();
  await prisma.$disconnect();
  await db.drop();
});

const paymentOf = (orderId: string) => prisma.payment.findUniqueOrThrow({ where: { orderId } });
const repliesFor = async (orderId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: orderId }, orderBy: { id: 'asc' } })).map((m) => ({
    type: m.type,
    data: (m.payload as { data: unknown }).data,
  }));
const callsFor = (running: RunningProvider, fragment: string) =>
  running.calls.filter((call) => call.includes(fragment)).length;

const authorize = (provider: PaymentProvider, command = authorizeCommand()) =>
  inTx((tx) => authorizePayment(tx, provider, command));
const capture = (provider: PaymentProvider, orderId: string) =>
  inTx((tx) => capturePayment(tx, provider, { orderId }));
const compensate = (provider: PaymentProvider, orderId: string, compensation: 'void' | 'refund') =>
  inTx((tx) => compensatePayment(tx, provider, orderId, compensation, log));

describe('authorize', () => {
  it('approves tok_visa, records the provider authorization and answers a repeat from the record', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    const reply = await authorize(provider, command);
    const payment = await paymentOf(command.orderId);
    expect(reply).toEqual({
      type: 'payment.authorized',
      data: { orderId: command.orderId, paymentId: payment.id },
    });
    expect(payment).toMatchObject({
      status: 'AUTHORIZED',
      userId: command.userId,
      amountCents: 4999,
      currency: 'EUR',
      failureReason: null,
    });
    const [held] = heldFor(simulator.ledger, command.orderId);
    expect(held).toMatchObject({
      id: payment.providerAuthorizationId,
      status: 'authorized',
      amountCents: 4999,
    });

    const before = simulator.calls.length;
    expect(await authorize(provider, command)).toEqual(reply);
    expect(simulator.calls.length).toBe(before);
    expect(heldFor(simulator.ledger, command.orderId)).toHaveLength(1);
    expect((await repliesFor(command.orderId)).map((r) => r.type)).toEqual([
      'payment.authorized',
      'payment.authorized',
    ]);
  });

  it('calls the provider once when the same order is authorized twice at the same moment', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    const before = simulator.calls.length;
    const replies = await Promise.all([authorize(provider, command), authorize(provider, command)]);
    expect(replies.map((r) => r.type)).toEqual(['payment.authorized', 'payment.authorized']);
    expect(simulator.calls.length - before).toBe(1);
  });

  it('records tok_decline as DECLINED and replies DECLINED, also to a repeat, without asking again', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand({ token: 'tok_decline' });
    const before = simulator.calls.length;
    const failed = {
      type: 'payment.authorization-failed',
      data: { orderId: command.orderId, reason: 'DECLINED' },
    };
    expect(await authorize(provider, command)).toEqual(failed);
    expect(await authorize(provider, command)).toEqual(failed);
    expect(simulator.calls.length - before).toBe(1);
    expect(await paymentOf(command.orderId)).toMatchObject({ status: 'DECLINED', failureReason: 'DECLINED' });
  });

  it('turns tok_error into UNAVAILABLE after retrying, and records UNKNOWN', async () => {
    const { provider, metrics } = providerClient(simulator.url, { retries: 2 });
    const command = authorizeCommand({ token: 'tok_error' });
    const before = simulator.calls.length;
    expect(await authorize(provider, command)).toEqual({
      type: 'payment.authorization-failed',
      data: { orderId: command.orderId, reason: 'UNAVAILABLE' },
    });
    expect(simulator.calls.length - before).toBe(3); // the first attempt and two retries, one Idempotency-Key
    expect(await sample(metrics, 'http_client_requests_total', { outcome: '5xx' })).toBe(3);
    expect(await paymentOf(command.orderId)).toMatchObject({
      status: 'UNKNOWN',
      failureReason: 'UNAVAILABLE',
    });
  });

  it('turns tok_timeout into UNAVAILABLE within the attempts budget, opens the breaker, then fails fast', async () => {
    const timeoutMs = 300;
    const { provider, metrics } = providerClient(simulator.url, {
      timeoutMs,
      retries: 2,
      breaker: { resetTimeoutMs: 1500 },
    });
    const unavailable = (orderId: string) => ({
      type: 'payment.authorization-failed',
      data: { orderId, reason: 'UNAVAILABLE' },
    });

    const first = authorizeCommand({ token: 'tok_timeout' });
    const callsBefore = simulator.calls.length;
    const started = performance.now();
    expect(await authorize(provider, first)).toEqual(unavailable(first.orderId));
    const elapsed = performance.now() - started;
    // Each attempt waited out its own timeout...
    expect(elapsed).toBeGreaterThanOrEqual(3 * timeoutMs - 10);
    // ...and the budget is counted in attempts, not read off a clock that a busy host
    // stretches: the first try and two retries, then it gave up.
    expect(await sample(metrics, 'http_client_requests_total', { outcome: 'timeout' })).toBe(3);
    // (The provider runs in this process: on a starved host its read of the last request
    // may come after the client's timeout fired.)
    await vi.waitFor(() => expect(simulator.calls.length - callsBefore).toBe(3));
    expect(await paymentOf(first.orderId)).toMatchObject({ status: 'UNKNOWN' });
    expect(provider.breakerState).toBe('closed'); // 3 failures: below the breaker's volume threshold of 5

    const second = authorizeCommand({ token: 'tok_timeout' });
    expect(await authorize(provider, second)).toEqual(unavailable(second.orderId));
    expect(provider.breakerState).toBe('open');
    expect(await sample(metrics, 'http_client_breaker_state', { upstream: 'payment-provider' })).toBe(2);
    expect(await sample(metrics, 'http_client_requests_total', { outcome: 'timeout' })).toBe(5);

    // While open, nothing reaches the provider, and even a good card gets UNAVAILABLE at once.
    const before = simulator.calls.length;
    const third = authorizeCommand({ token: 'tok_visa' });
    expect(await authorize(provider, third)).toEqual(unavailable(third.orderId));
    // Fast means no attempt at all: no request sent, so no deadline waited for (counted, not
    // timed, so a starved host cannot fail it).
    expect(await sample(metrics, 'http_client_requests_total', { outcome: 'timeout' })).toBe(5);
    expect(simulator.calls.length).toBe(before);
    expect(
      await sample(metrics, 'http_client_requests_total', { outcome: 'breaker-open' }),
    ).toBeGreaterThanOrEqual(2);
    expect(await provider.describe()).toEqual({ breaker: 'open' });

    // After the reset timeout one trial call goes through; it succeeds and closes the breaker.
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(provider.breakerState).toBe('half-open');
    const fourth = authorizeCommand({ token: 'tok_visa' });
    expect((await authorize(provider, fourth)).type).toBe('payment.authorized');
    expect(provider.breakerState).toBe('closed');
    expect(await sample(metrics, 'http_client_breaker_state', { upstream: 'payment-provider' })).toBe(0);
  });

  it('rejects (throws) a command that contradicts the payment on record, changing nothing', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    await authorize(provider, command);
    await expect(authorize(provider, { ...command, amountCents: 1 })).rejects.toThrow(
      /authorize asks for 1 EUR/,
    );
    expect(await paymentOf(command.orderId)).toMatchObject({ status: 'AUTHORIZED', amountCents: 4999 });
  });
});

describe('capture', () => {
  it('charges once, whether the capture is redelivered after a lost commit or sent again', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    await authorize(provider, command);
    const { orderId } = command;

    // The provider captures, but this transaction never commits (a crash, a lost connection).
    await expect(
      inTx(async (tx) => {
        await capturePayment(tx, provider, { orderId });
        throw new Error('lost before commit');
      }),
    ).rejects.toThrow('lost before commit');
    expect(await paymentOf(orderId)).toMatchObject({ status: 'AUTHORIZED' });

    // The redelivered command asks again with the same Idempotency-Key: the provider replays.
    const payment = await paymentOf(orderId);
    const captured = { type: 'payment.captured', data: { orderId, paymentId: payment.id } };
    expect(await capture(provider, orderId)).toEqual(captured);
    // A later copy is answered from the record.
    expect(await capture(provider, orderId)).toEqual(captured);

    expect(callsFor(simulator, `/${payment.providerAuthorizationId}/capture`)).toBe(2);
    expect(simulator.ledger.authorizations.get(payment.providerAuthorizationId!)).toMatchObject({
      status: 'captured',
      captures: 1,
    });
    expect(await paymentOf(orderId)).toMatchObject({ status: 'CAPTURED', failureReason: null });
  });

  it('replies capture-failed DECLINED when the provider refuses (409 invalid_state)', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    await authorize(provider, command);
    const payment = await paymentOf(command.orderId);
    // Voided at the provider behind our back (say, by hand in its dashboard).
    const authorization = simulator.ledger.authorizations.get(payment.providerAuthorizationId!)!;
    simulator.ledger.save({ ...authorization, status: 'voided' });

    expect(await capture(provider, command.orderId)).toEqual({
      type: 'payment.capture-failed',
      data: { orderId: command.orderId, reason: 'DECLINED' },
    });
    expect(await paymentOf(command.orderId)).toMatchObject({
      status: 'AUTHORIZED',
      failureReason: 'CAPTURE_DECLINED',
    });
    // The saga then refunds: the provider's own state says nothing is held.
    expect(await compensate(provider, command.orderId, 'refund')).toEqual({
      type: 'payment.refunded',
      data: { orderId: command.orderId },
    });
    expect(await paymentOf(command.orderId)).toMatchObject({ status: 'VOIDED' });
  });

  it('replies capture-failed UNAVAILABLE when the provider cannot be reached, and the refund finds the capture', async () => {
    const slow = await startProvider({ latencyMs: 400 });
    try {
      const { provider: patient } = providerClient(slow.url, { timeoutMs: 2000 });
      const { provider: hasty } = providerClient(slow.url, { timeoutMs: 150, retries: 1 });
      const command = authorizeCommand();
      await authorize(patient, command);
      const { orderId } = command;

      expect(await capture(hasty, orderId)).toEqual({
        type: 'payment.capture-failed',
        data: { orderId, reason: 'UNAVAILABLE' },
      });
      expect(await paymentOf(orderId)).toMatchObject({
        status: 'AUTHORIZED',
        failureReason: 'CAPTURE_UNAVAILABLE',
      });
      // The capture did happen, only its answer came too late.
      const [held] = await eventually(() => {
        const found = heldFor(slow.ledger, orderId);
        return found[0]?.status === 'captured' ? found : undefined;
      });

      expect(await compensate(patient, orderId, 'refund')).toEqual({
        type: 'payment.refunded',
        data: { orderId },
      });
      expect(slow.ledger.authorizations.get(held!.id)).toMatchObject({ status: 'refunded', captures: 1 });
      expect(await paymentOf(orderId)).toMatchObject({
        status: 'REFUNDED',
        providerAuthorizationId: held!.id,
      });
    } finally {
      await closeProviderClients(); // first, so the simulator has no client connections to wait for
      await slow.stop();
    }
  });
});

describe('void and refund', () => {
  it('voids an authorized payment, and answers a repeat without the provider', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    await authorize(provider, command);
    const voided = { type: 'payment.voided', data: { orderId: command.orderId } };
    expect(await compensate(provider, command.orderId, 'void')).toEqual(voided);
    const before = simulator.calls.length;
    expect(await compensate(provider, command.orderId, 'void')).toEqual(voided);
    expect(simulator.calls.length).toBe(before);
    expect(heldFor(simulator.ledger, command.orderId)[0]).toMatchObject({ status: 'voided' });
    expect(await paymentOf(command.orderId)).toMatchObject({ status: 'VOIDED' });
  });

  it('refunds a captured payment', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    await authorize(provider, command);
    await capture(provider, command.orderId);
    const refunded = { type: 'payment.refunded', data: { orderId: command.orderId } };
    expect(await compensate(provider, command.orderId, 'refund')).toEqual(refunded);
    expect(await compensate(provider, command.orderId, 'refund')).toEqual(refunded);
    expect(heldFor(simulator.ledger, command.orderId)[0]).toMatchObject({ status: 'refunded', captures: 1 });
    expect(await paymentOf(command.orderId)).toMatchObject({ status: 'REFUNDED' });
    // A void sent for a refunded payment (the saga accepts either reply) moves nothing.
    expect(await compensate(provider, command.orderId, 'void')).toEqual({
      type: 'payment.voided',
      data: { orderId: command.orderId },
    });
  });

  it('after an authorization whose answer was lost, voids what the provider has', async () => {
    const slow = await startProvider({ latencyMs: 400 });
    try {
      const { provider: hasty } = providerClient(slow.url, { timeoutMs: 150, retries: 1 });
      const { provider: patient } = providerClient(slow.url, { timeoutMs: 2000 });
      const command = authorizeCommand();
      expect((await authorize(hasty, command)).data).toMatchObject({ reason: 'UNAVAILABLE' });
      expect(await paymentOf(command.orderId)).toMatchObject({ status: 'UNKNOWN' });
      // The provider authorized after all (once: both attempts carried the same key).
      await eventually(() => (heldFor(slow.ledger, command.orderId).length > 0 ? true : undefined));

      expect(await compensate(patient, command.orderId, 'void')).toEqual({
        type: 'payment.voided',
        data: { orderId: command.orderId },
      });
      const held = heldFor(slow.ledger, command.orderId);
      expect(held).toHaveLength(1);
      expect(held[0]).toMatchObject({ status: 'voided' });
      expect(
        slow.calls.some((call) => call.startsWith(`GET /v1/authorizations?reference=${command.orderId}`)),
      ).toBe(true);
      expect(await paymentOf(command.orderId)).toMatchObject({
        status: 'VOIDED',
        providerAuthorizationId: held[0]!.id,
      });
    } finally {
      await closeProviderClients(); // first, so the simulator has no client connections to wait for
      await slow.stop();
    }
  });

  it('after an authorization that timed out with nothing at the provider, just marks VOIDED', async () => {
    const { provider } = providerClient(simulator.url, { timeoutMs: 100, retries: 0 });
    const command = authorizeCommand({ token: 'tok_timeout' });
    await authorize(provider, command);
    expect(await compensate(provider, command.orderId, 'void')).toEqual({
      type: 'payment.voided',
      data: { orderId: command.orderId },
    });
    expect(await paymentOf(command.orderId)).toMatchObject({
      status: 'VOIDED',
      providerAuthorizationId: null,
    });
    expect(heldFor(simulator.ledger, command.orderId)).toHaveLength(0);
  });

  it('leaves a tombstone when the void comes first, and the late authorize is refused without the provider', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    const before = simulator.calls.length;
    expect(await compensate(provider, command.orderId, 'void')).toEqual({
      type: 'payment.voided',
      data: { orderId: command.orderId },
    });
    expect(await paymentOf(command.orderId)).toMatchObject({
      status: 'VOIDED',
      userId: null,
      amountCents: null,
    });
    expect(await authorize(provider, command)).toEqual({
      type: 'payment.authorization-failed',
      data: { orderId: command.orderId, reason: 'DECLINED' },
    });
    expect(simulator.calls.length).toBe(before);
    expect(heldFor(simulator.ledger, command.orderId)).toHaveLength(0);
  });

  it('with the provider down, sends no reply and does not throw; a later copy succeeds', async () => {
    const calls: string[] = [];
    let down: RunningProvider | undefined = await startProvider({ calls });
    const { port, ledger } = down;
    const { provider, metrics } = providerClient(down.url, {
      timeoutMs: 300,
      retries: 1,
      breaker: { resetTimeoutMs: 500 },
    });
    const handlers = paymentHandlers(provider, metrics);
    const voidCommand = (orderId: string) => ({
      id: randomUUID(),
      type: 'payment.void' as const,
      version: 1 as const,
      source: 'orders',
      time: new Date().toISOString(),
      key: orderId,
      traceparent: null,
      data: { orderId },
    });
    const command = authorizeCommand();
    const { orderId } = command;
    await authorize(provider, command);
    await down.stop();
    down = undefined;

    // Twice, as the saga would: enough failures to open the breaker, and still no throw.
    for (let copy = 0; copy < 2; copy++) {
      await expect(
        handleInTransaction(inTx, handlers['payment.void']!, voidCommand(orderId), log),
      ).resolves.toBeUndefined();
    }
    expect((await repliesFor(orderId)).map((r) => r.type)).toEqual(['payment.authorized']);
    expect(await paymentOf(orderId)).toMatchObject({ status: 'AUTHORIZED' });
    expect(
      await sample(metrics, 'payments_command_outcomes_total', { command: 'void', outcome: 'deferred' }),
    ).toBe(2);

    const back = await startProvider({ port, ledger, calls });
    try {
      // The saga keeps re-sending on its deadline; one of the copies gets through once the breaker lets it.
      await eventually(
        async () => {
          await handleInTransaction(inTx, handlers['payment.void']!, voidCommand(orderId), log);
          return (await paymentOf(orderId)).status === 'VOIDED' ? true : undefined;
        },
        { intervalMs: 200, timeoutMs: 10_000 },
      );
      expect((await repliesFor(orderId)).map((r) => r.type)).toEqual([
        'payment.authorized',
        'payment.voided',
      ]);
      expect(heldFor(ledger, orderId)[0]).toMatchObject({ status: 'voided' });
    } finally {
      await back.stop();
    }
  });
});
