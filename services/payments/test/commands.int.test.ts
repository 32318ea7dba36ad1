// The saga's payment commands against a real database (the service's
// migrations) and the real provider simulator over HTTP on loopback: recorded
// as an intent in the consumer's transaction, the provider called after the
// commit, the outcome and the reply recorded in one statement.
import { buildMessage, type Message, type MessageType } from '@shop/contracts';
import type { Database, Registry } from '@shop/platform';
import {
  createServiceDatabase,
  eventually,
  handleInTransaction,
  type TestDatabase,
  testLogger,
} from '@shop/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase, type PrismaClient } from '../src/db.js';
import type { AuthorizeCommand } from '../src/domain/payment.js';
import { PaymentOperations } from '../src/operations.js';
import { leaseFor } from '../src/provider/budget.js';
import type { PaymentProvider } from '../src/provider/client.js';
import {
  authorizeCommand,
  closeProviderClients,
  heldFor,
  providerClient,
  type RunningProvider,
  sample,
  startProvider,
} from './harness.js';

let db: TestDatabase;
let database: Database;
let prisma: PrismaClient;
let simulator: RunningProvider;
const log = testLogger('payments');
const running: PaymentOperations[] = [];

beforeAll(async () => {
  db = await createServiceDatabase('payments');
  ({ database, prisma } = createDatabase(db.url, 10));
  simulator = await startProvider();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((operations) => operations.stop()));
  await closeProviderClients();
});
afterAll(async () => {
  await simulator.stop();
  await prisma.$disconnect();
  await database.close();
  await db.drop();
});

/** The command handling of one payments process, with this provider client (and its metrics). */
const operationsOf = new WeakMap<PaymentProvider, PaymentOperations>();
function operations(provider: PaymentProvider, metrics?: Registry): PaymentOperations {
  let found = operationsOf.get(provider);
  if (!found) {
    found = new PaymentOperations({
      database,
      provider,
      logger: log,
      ...(metrics ? { metrics } : {}),
      leaseMs: leaseFor(1500, 2),
    });
    operationsOf.set(provider, found);
    running.push(found);
  }
  return found;
}

const paymentOf = (orderId: string) => prisma.payment.findUniqueOrThrow({ where: { orderId } });
const repliesFor = async (orderId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: orderId }, orderBy: { id: 'asc' } })).map((m) => ({
    type: m.type,
    data: (m.payload as { data: unknown }).data,
  }));
const callsFor = (running: RunningProvider, fragment: string) =>
  running.calls.filter((call) => call.includes(fragment)).length;

type PaymentCommandType = Extract<MessageType, `payment.${'authorize' | 'capture' | 'void' | 'refund'}`>;
const message = (type: PaymentCommandType, data: { orderId: string }): Message =>
  buildMessage(type, data.orderId, data as never, { source: 'orders' });

/**
 * Hands commands to the payments process as its consumer would (one chunk, one transaction, the
 * group's lock on each order's key taken first, so two copies of one order's command are handled
 * one after the other even when two consumers have them at once), waits
 * until the provider calls they started are recorded, and returns the reply the last of them got
 * (undefined when none: ignored while an operation was pending, or deferred with the provider down).
 */
async function send(provider: PaymentProvider, ...commands: Message[]) {
  const ops = operations(provider);
  const orderId = (commands.at(-1)!.data as { orderId: string }).orderId;
  const before = (await repliesFor(orderId)).length;
  await handleInTransaction(database, ops.handling, commands, log, { asConsumerGroup: 'payments' });
  await ops.idle();
  const after = await repliesFor(orderId);
  return after.length > before ? after.at(-1) : undefined;
}
const authorize = (provider: PaymentProvider, command: AuthorizeCommand = authorizeCommand()) =>
  send(provider, message('payment.authorize', command));
const capture = (provider: PaymentProvider, orderId: string) =>
  send(provider, message('payment.capture', { orderId }));
const compensate = (provider: PaymentProvider, orderId: string, compensation: 'void' | 'refund') =>
  send(provider, message(`payment.${compensation}`, { orderId }));

/** The intent recorded and committed, and then the process dies: nothing after the commit runs. */
async function recordAndCrash(provider: PaymentProvider, command: Message): Promise<void> {
  await database.transaction((tx) =>
    operations(provider).handling.handle([command], {
      tx,
      log,
      afterCommit: () => undefined,
      traceparent: () => null,
      within: (_m, work) => work(),
    }),
  );
}

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
    // A provider slow enough that the first copy's call is surely still out when the second copy
    // is handled, however loaded the machine: with a fast one the second may come after the
    // outcome and be answered as a repeat (a second reply), which is right too but not this case.
    const slow = await startProvider({ latencyMs: 1000 });
    try {
      const { provider } = providerClient(slow.url);
      const command = authorizeCommand();
      await Promise.all([authorize(provider, command), authorize(provider, command)]);
      // Two consumers at once, as in a rebalance: the group's key lock lets one record its intent
      // first, and the other copy finds that operation pending; its reply answers both.
      expect((await repliesFor(command.orderId)).map((r) => r.type)).toEqual(['payment.authorized']);
      expect(slow.calls).toHaveLength(1);
    } finally {
      await slow.stop();
    }
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
    expect(await authorize(provider, first)).toEqual(unavailable(first.orderId));
    // The budget is counted in attempts, not read off a clock that a busy host stretches:
    // the first try and two retries, then it gave up.
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
    expect((await authorize(provider, fourth))?.type).toBe('payment.authorized');
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
  it('charges once when the process dies after the provider captured: the sweeper asks again with the same key', async () => {
    const { provider } = providerClient(simulator.url);
    const command = authorizeCommand();
    await authorize(provider, command);
    const { orderId } = command;
    const payment = await paymentOf(orderId);

    // The capture is recorded as the payment's pending operation and committed; the provider
    // captures; then the process dies before it records the answer.
    await recordAndCrash(provider, message('payment.capture', { orderId }));
    expect(await paymentOf(orderId)).toMatchObject({
      status: 'AUTHORIZED',
      pendingOperationId: expect.any(String),
    });
    expect((await provider.capture(orderId, payment.providerAuthorizationId!)).kind).toBe('done');
    expect((await repliesFor(orderId)).map((r) => r.type)).toEqual(['payment.authorized']);

    // Another process (here: a fresh one) takes the operation over once its lease has run out.
    const { provider: survivor } = providerClient(simulator.url);
    const takeover = operations(survivor);
    expect(await takeover.sweep()).toBe(0); // the lease still holds
    await database.query(
      `UPDATE payments SET lease_until = now() - interval '1 second' WHERE order_id = $1`,
      [orderId],
    );
    expect(await takeover.sweep()).toBe(1);
    await takeover.idle();
    const captured = { type: 'payment.captured', data: { orderId, paymentId: payment.id } };
    expect((await repliesFor(orderId)).at(-1)).toEqual(captured);
    // A later copy is answered from the record.
    expect(await capture(provider, orderId)).toEqual(captured);

    // Asked twice with one Idempotency-Key: captured once.
    expect(callsFor(simulator, `/${payment.providerAuthorizationId}/capture`)).toBe(2);
    expect(simulator.ledger.authorizations.get(payment.providerAuthorizationId!)).toMatchObject({
      status: 'captured',
      captures: 1,
    });
    expect(await paymentOf(orderId)).toMatchObject({
      status: 'CAPTURED',
      failureReason: null,
      pendingOperationId: null,
    });
  });

  it('ignores commands for a payment while its operation is pending, and answers none of them twice', async () => {
    const slow = await startProvider({ latencyMs: 300 });
    try {
      const { provider } = providerClient(slow.url);
      const ops = operations(provider);
      const command = authorizeCommand();
      const first = authorize(provider, command);
      const pending = await eventually(
        async () => (await paymentOf(command.orderId)).pendingOperationId ?? undefined,
      );
      // A copy of the authorize and an early void arrive while the authorization is being asked for.
      await handleInTransaction(database, ops.handling, [
        message('payment.authorize', command),
        message('payment.void', { orderId: command.orderId }),
      ]);
      expect((await paymentOf(command.orderId)).pendingOperationId).toBe(pending);
      expect(await first).toMatchObject({ type: 'payment.authorized' });
      await ops.idle();
      expect((await repliesFor(command.orderId)).map((r) => r.type)).toEqual(['payment.authorized']);
      expect(slow.calls.filter((call) => call.startsWith('POST /v1/authorizations'))).toHaveLength(1);
      // The saga sends the void again on its deadline: now it is carried out.
      expect(await compensate(provider, command.orderId, 'void')).toMatchObject({ type: 'payment.voided' });
    } finally {
      await closeProviderClients();
      await slow.stop();
    }
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
      expect((await authorize(hasty, command))?.data).toMatchObject({ reason: 'UNAVAILABLE' });
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
    operations(provider, metrics);
    const command = authorizeCommand();
    const { orderId } = command;
    await authorize(provider, command);
    await down.stop();
    down = undefined;

    // Twice, as the saga would: enough failures to open the breaker, and still no throw.
    for (let copy = 0; copy < 2; copy++) {
      expect(await compensate(provider, orderId, 'void')).toBeUndefined();
    }
    expect((await repliesFor(orderId)).map((r) => r.type)).toEqual(['payment.authorized']);
    expect(await paymentOf(orderId)).toMatchObject({ status: 'AUTHORIZED', pendingOperationId: null });
    expect(
      await sample(metrics, 'payments_command_outcomes_total', { command: 'void', outcome: 'deferred' }),
    ).toBe(2);

    const back = await startProvider({ port, ledger, calls });
    try {
      // The saga keeps re-sending on its deadline; one of the copies gets through once the breaker lets it.
      await eventually(
        async () => {
          await compensate(provider, orderId, 'void');
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
