// The saga's payment commands, with no remote call inside a transaction.
//
// 1. The consumer's transaction locks the chunk's payments (in order id order),
//    lets the pure planner (domain/command-plan.ts) decide each command, answers
//    what the record can answer, and records each provider call that is needed
//    as the payment's pending operation, with a lease. Then it commits.
// 2. After the commit, the call is made, outside any transaction, with the
//    provider's Idempotency-Key for the order and operation.
// 3. Its outcome and the reply to the saga are written in one statement, only
//    if the payment still has that pending operation (another process may have
//    re-driven it); outcomes that finish together share one commit.
//
// A crash between 1 and 3 leaves the intent behind: once its lease has run out,
// the sweeper of any replica takes it and makes the call again with the same
// Idempotency-Key, so the provider answers with its first answer instead of
// charging twice. Nothing here holds a Kafka partition or a row lock while the
// provider thinks, so the consumers' session can be short.

import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import { buildMessage, type Message } from '@shop/contracts';
import {
  Counter,
  contextFromTraceparent,
  type Database,
  enqueue,
  enqueueStatement,
  fullJitterDelay,
  type HandlerContext,
  type Logger,
  type MessageHandling,
  metric,
  type Registry,
  sleep,
} from '@shop/platform';
import {
  type CommandPlan,
  type PaymentCommand,
  type PaymentRecord,
  type PendingOperation,
  type ProviderCall,
  planCommands,
} from './domain/command-plan.js';
import {
  afterAuthorization,
  afterCapture,
  type PaymentChange,
  type PaymentFailure,
  type PaymentStatus,
  type Reply,
} from './domain/payment.js';
import { afterRelease } from './domain/release.js';
import type { PaymentProvider } from './provider/client.js';
import { releaseAtProvider } from './provider/release.js';

const PAYMENT_COMMANDS = ['payment.authorize', 'payment.capture', 'payment.void', 'payment.refund'] as const;

interface PaymentRow {
  id: string;
  order_id: string;
  status: PaymentStatus;
  user_id: string | null;
  amount_cents: number | null;
  currency: string | null;
  provider_authorization_id: string | null;
  pending_operation_id: string | null;
  pending_data: StoredOperation | null;
  pending_traceparent: string | null;
}

/** What pending_data holds: the call, and how long one attempt at it may take (its lease). */
interface StoredOperation {
  call: ProviderCall;
  leaseMs: number;
}

const columns = (p = '') =>
  `${p}id, ${p}order_id, ${p}status, ${p}user_id, ${p}amount_cents, rtrim(${p}currency) AS currency,
   ${p}provider_authorization_id, ${p}pending_operation_id, ${p}pending_data, ${p}pending_traceparent`;

const LOCK = {
  name: 'payments-lock',
  text: `SELECT ${columns()} FROM payments WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE`,
};

const interval = (ms: string) => `${ms} * interval '1 millisecond'`;

// New payments, and existing ones given a pending operation: what the planner decided.
const RECORD = {
  name: 'payments-record',
  text: `WITH created AS (
           INSERT INTO payments (id, order_id, status, user_id, amount_cents, currency,
                                 pending_operation_id, pending_data, lease_until, pending_traceparent, updated_at)
           SELECT c.id, c.order_id, c.status::payment_status, c.user_id, c.amount_cents, c.currency,
                  c.op, c.data, now() + ${interval('c.lease_ms')}, c.tp, now()
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::text[],
                         $7::uuid[], $8::jsonb[], $9::float8[], $10::text[])
                  AS c(id, order_id, status, user_id, amount_cents, currency, op, data, lease_ms, tp))
         UPDATE payments p
            SET pending_operation_id = u.op, pending_data = u.data, lease_until = now() + ${interval('u.lease_ms')},
                pending_traceparent = u.tp, updated_at = now()
           FROM unnest($11::uuid[], $12::uuid[], $13::jsonb[], $14::float8[], $15::text[]) AS u(order_id, op, data, lease_ms, tp)
          WHERE p.order_id = u.order_id`,
};

const outcomeReplies = enqueueStatement(7);
// Each outcome, only where the payment still has that operation pending, and the replies of those.
const SETTLE = {
  name: 'payments-settle',
  text: `WITH settled AS (
           UPDATE payments p
              SET status = coalesce(u.status::payment_status, p.status),
                  provider_authorization_id = coalesce(u.authorization_id, p.provider_authorization_id),
                  failure_reason = CASE WHEN u.set_failure THEN u.failure::payment_failure ELSE p.failure_reason END,
                  pending_operation_id = NULL, pending_data = NULL, lease_until = NULL,
                  pending_traceparent = NULL, updated_at = now()
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bool[], $6::text[])
                  AS u(order_id, op, status, authorization_id, set_failure, failure)
            WHERE p.order_id = u.order_id AND p.pending_operation_id = u.op
           RETURNING p.order_id::text AS order_id),
         replies AS (${outcomeReplies.insert({ where: 'm.key IN (SELECT order_id FROM settled)' })})
         SELECT (SELECT coalesce(array_agg(order_id), '{}') FROM settled) AS settled`,
};

// Operations whose lease ran out (their process died, or is far behind): taken again, lease renewed.
// Unnamed, like every queue scan here: planned each time with the table's current statistics.
const OVERDUE = {
  text: `WITH due AS (
           SELECT order_id FROM payments WHERE lease_until < now()
            ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE payments p SET lease_until = now() + ${interval(`(p.pending_data->>'leaseMs')::float8`)}
           FROM due WHERE p.order_id = due.order_id
         RETURNING ${columns('p.')}`,
};

/** An operation to carry out, with the payment as it was when the operation was recorded. */
interface Drive {
  payment: PaymentRecord;
  operation: PendingOperation;
  traceparent: string | null;
  command: string;
}

/** A finished call: what it does to the payment and what the saga is told (nothing when deferred). */
interface Outcome {
  drive: Drive;
  change: PaymentChange;
  reply: Reply | undefined;
}

export interface PaymentOperationsOptions {
  database: Database;
  provider: PaymentProvider;
  logger: Logger;
  metrics?: Registry;
  /** How long one attempt at a call may take before another process may take it over. */
  leaseMs: (call: ProviderCall) => number;
  /** Provider calls in flight at most; more wait their turn. */
  concurrency?: number;
  /** How often overdue operations are looked for. */
  sweepIntervalMs?: number;
}

export class PaymentOperations {
  readonly #options: PaymentOperationsOptions;
  readonly #log: Logger;
  readonly #outcomes?: Counter;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #waiting: (() => void)[] = [];
  #active = 0;
  #settling: { outcome: Outcome; done: () => void }[] = [];
  #writer: Promise<void> | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #sweep: Promise<unknown> | undefined;
  #stopped = false;

  constructor(options: PaymentOperationsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'payment-operations' });
    const registry = options.metrics;
    if (registry) {
      this.#outcomes = metric(
        registry,
        'payments_command_outcomes_total',
        () =>
          new Counter({
            name: 'payments_command_outcomes_total',
            help: 'Payment commands by the reply they got, or "deferred" (a compensation the provider could not take yet). Counted once the reply is committed.',
            labelNames: ['command', 'outcome'],
            registers: [registry],
          }),
      );
    }
  }

  /** The consumer's handling of payments.commands. */
  readonly handling: MessageHandling = {
    types: PAYMENT_COMMANDS,
    handle: (messages, context) => this.#record(messages as readonly (Message & PaymentCommand)[], context),
  };

  async #record(commands: readonly (Message & PaymentCommand)[], ctx: HandlerContext): Promise<void> {
    const { tx } = ctx;
    const { rows } = await tx.query<PaymentRow>({
      ...LOCK,
      values: [[...new Set(commands.map((c) => c.data.orderId))]],
    });
    const records = new Map(rows.map((row) => [row.order_id, toRecord(row)]));
    const plan = planCommands(commands, records, { payment: randomUUID, operation: randomUUID });
    const traceOf = new Map<string, string | null>();
    commands.forEach((command, i) => {
      if (plan.operations[i]) traceOf.set(plan.operations[i]!.id, ctx.traceparent(command));
    });
    await this.#write(ctx, plan, traceOf);
    await enqueue(
      tx,
      ...commands.flatMap((command, i) => {
        const reply = plan.replies[i];
        return reply ? [this.#message(reply, ctx.traceparent(command))] : [];
      }),
    );
    ctx.afterCommit(() => {
      commands.forEach((command, i) => {
        const reply = plan.replies[i];
        if (reply) this.#count(command.type, reply.type);
        const operation = plan.operations[i];
        if (operation) {
          const payment = plan.changed.get(command.data.orderId) ?? plan.created.get(command.data.orderId)!;
          this.#drive({
            payment,
            operation,
            traceparent: traceOf.get(operation.id) ?? null,
            command: command.type,
          });
        }
      });
    });
  }

  async #write(ctx: HandlerContext, plan: CommandPlan, traceOf: Map<string, string | null>): Promise<void> {
    const created = [...plan.created.values()];
    const changed = [...plan.changed.values()];
    if (created.length + changed.length === 0) return;
    const stored = (record: PaymentRecord) =>
      record.pending ? JSON.stringify(this.#stored(record.pending.call)) : null;
    const lease = (record: PaymentRecord) =>
      record.pending ? this.#options.leaseMs(record.pending.call) : null;
    const trace = (record: PaymentRecord) =>
      record.pending ? (traceOf.get(record.pending.id) ?? null) : null;
    await ctx.tx.query({
      ...RECORD,
      values: [
        created.map((r) => r.id),
        created.map((r) => r.orderId),
        created.map((r) => r.status),
        created.map((r) => r.userId),
        created.map((r) => r.amountCents),
        created.map((r) => r.currency),
        created.map((r) => r.pending?.id ?? null),
        created.map(stored),
        created.map(lease),
        created.map(trace),
        changed.map((r) => r.orderId),
        changed.map((r) => r.pending?.id ?? null),
        changed.map(stored),
        changed.map(lease),
        changed.map(trace),
      ],
    });
  }

  #stored(call: ProviderCall): StoredOperation {
    return { call, leaseMs: this.#options.leaseMs(call) };
  }

  /** Starts carrying out an operation, at most `concurrency` at a time; one operation runs once per process. */
  #drive(drive: Drive): void {
    const id = drive.operation.id;
    if (this.#inFlight.has(id) || this.#stopped) return;
    const run = (async () => {
      await this.#slot();
      try {
        const outcome = await context.with(contextFromTraceparent(drive.traceparent), () =>
          this.#call(drive),
        );
        await this.#settle(outcome);
      } catch (err) {
        // The lease runs out and the sweeper takes the operation again.
        this.#log.warn(
          { err, orderId: drive.payment.orderId, operation: id },
          'a payment operation failed; it will be retried',
        );
      } finally {
        this.#release();
        this.#inFlight.delete(id);
      }
    })();
    this.#inFlight.set(id, run);
  }

  async #call(drive: Drive): Promise<Outcome> {
    const { provider } = this.#options;
    const { payment, operation } = drive;
    const call = operation.call;
    switch (call.kind) {
      case 'authorize':
        return { drive, ...afterAuthorization(payment, await provider.authorize(call.command)) };
      case 'capture':
        return {
          drive,
          ...afterCapture(payment, await provider.capture(payment.orderId, call.authorizationId)),
        };
      case 'release': {
        const released = await releaseAtProvider(provider, payment.orderId, call.decision);
        if (released.kind === 'unavailable') {
          this.#log.warn(
            {
              orderId: payment.orderId,
              compensation: call.compensation,
              status: payment.status,
              reason: released.reason,
            },
            'payment provider unavailable; no reply, the saga will send the compensation again',
          );
          return { drive, change: {}, reply: undefined };
        }
        return { drive, ...afterRelease(payment, call.compensation, released.authorizations) };
      }
    }
  }

  /** Queues an outcome for the writer; resolves once it is committed. Outcomes that wait together share a commit. */
  #settle(outcome: Outcome): Promise<void> {
    return new Promise((done) => {
      this.#settling.push({ outcome, done });
      this.#writer ??= this.#writeOutcomes().finally(() => {
        this.#writer = undefined;
      });
    });
  }

  // Runs while outcomes wait; the last check of the queue and the end of the loop happen in one
  // turn of the event loop, so an outcome queued later always finds a writer to take it.
  async #writeOutcomes(): Promise<void> {
    for (let failures = 0; this.#settling.length > 0; ) {
      const batch = this.#settling;
      this.#settling = [];
      try {
        const settled = await this.#writeBatch(batch.map((b) => b.outcome));
        for (const { outcome } of batch)
          if (settled.has(outcome.drive.payment.orderId))
            this.#count(outcome.drive.command, outcome.reply?.type ?? 'deferred');
        for (const { done } of batch) done();
        failures = 0;
      } catch (err) {
        if (this.#stopped) {
          // Stopping: the leases run out and another process (or this one, restarted) takes over.
          this.#log.warn({ err, outcomes: batch.length }, 'payment outcomes not recorded before stopping');
          for (const { done } of batch) done();
          continue;
        }
        this.#settling.unshift(...batch);
        const delay = fullJitterDelay(Math.min(failures++, 8), { baseMs: 100, capMs: 5000 });
        this.#log.warn(
          { err, outcomes: batch.length, retryInMs: delay },
          'recording payment outcomes failed; retrying',
        );
        await sleep(delay);
      }
    }
  }

  async #writeBatch(batch: Outcome[]): Promise<Set<string>> {
    const replies = batch.flatMap(({ drive, reply }) =>
      reply ? [this.#message(reply, drive.traceparent)] : [],
    );
    const { rows } = await this.#options.database.query<{ settled: string[] }>({
      ...SETTLE,
      values: [
        batch.map((o) => o.drive.payment.orderId),
        batch.map((o) => o.drive.operation.id),
        batch.map((o) => o.change.status ?? null),
        batch.map((o) => o.change.providerAuthorizationId ?? null),
        batch.map((o) => o.change.failureReason !== undefined),
        batch.map((o) => (o.change.failureReason ?? null) satisfies PaymentFailure | null),
        ...outcomeReplies.values(replies),
      ],
    });
    return new Set(rows[0]?.settled ?? []);
  }

  #message(reply: Reply, traceparent: string | null): Message {
    return buildMessage(reply.type, reply.data.orderId, reply.data as never, {
      source: 'payments',
      traceparent,
    });
  }

  #count(command: string, outcome: string): void {
    this.#outcomes?.inc({ command: command.replace('payment.', ''), outcome });
  }

  async #slot(): Promise<void> {
    if (this.#active < (this.#options.concurrency ?? 32)) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }

  /** Takes operations whose lease has run out and carries them out again; returns how many. */
  async sweep(limit = 100): Promise<number> {
    const { rows } = await this.#options.database.query<PaymentRow>({ ...OVERDUE, values: [limit] });
    for (const row of rows) {
      const payment = toRecord(row);
      if (!payment.pending) continue;
      this.#log.info(
        { orderId: payment.orderId, operation: payment.pending.id },
        're-driving a payment operation whose lease ran out',
      );
      this.#drive({
        payment,
        operation: payment.pending,
        traceparent: row.pending_traceparent,
        command: `payment.${commandOf(payment.pending.call)}`,
      });
    }
    return rows.length;
  }

  /** Starts the sweeper (and takes over at once what a crashed process left). */
  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      this.#sweep = this.sweep().catch((err) =>
        this.#log.warn({ err }, 'looking for overdue payment operations failed'),
      );
      await this.#sweep;
      if (!this.#stopped) this.#sweeper = setTimeout(tick, this.#options.sweepIntervalMs ?? 1000);
    };
    void tick();
  }

  /** Resolves when nothing is in flight (for tests, and graceful stops). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#writer) {
      await Promise.allSettled([...this.#inFlight.values(), this.#writer]);
    }
  }

  /** Stops taking new work and waits for the calls in flight to be recorded. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#sweeper);
    await this.#sweep;
    await this.idle();
  }
}

function commandOf(call: ProviderCall): string {
  return call.kind === 'release' ? call.compensation : call.kind;
}

function toRecord(row: PaymentRow): PaymentRecord {
  return {
    id: row.id,
    orderId: row.order_id,
    status: row.status,
    userId: row.user_id,
    amountCents: row.amount_cents,
    currency: row.currency,
    providerAuthorizationId: row.provider_authorization_id,
    pending:
      row.pending_operation_id && row.pending_data
        ? { id: row.pending_operation_id, call: row.pending_data.call }
        : null,
  };
}
