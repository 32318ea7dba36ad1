// The saga orchestrator: the I/O around the pure state machine. Each input (a
// participant's reply, an overdue step, a cancellation) is applied under the
// order's row lock, and the new state, its deadline, the history row and the
// outgoing commands and events are written in one transaction, so a crash at
// any moment leaves either the old state or the new one with its messages.

import { context, trace } from '@opentelemetry/api';
import { buildMessage, type Message } from '@shop/contracts';
import {
  type AfterCommit,
  Counter,
  contextFromTraceparent,
  currentTraceparent,
  enqueue,
  type HandlerContext,
  Histogram,
  type Logger,
  type MessageHandlers,
  metric,
  type Registry,
  runEffects,
  tracer,
} from '@shop/platform';
import type { PrismaClient, Transaction } from '../db.js';
import { deadlineFor, type SagaTimeouts } from './deadlines.js';
import {
  decide,
  type OrderFacts,
  type Outgoing,
  type ReplyType,
  type SagaInput,
  type SagaState,
  type SagaStep,
  start,
} from './order-saga.js';

interface LockedOrder {
  id: string;
  userId: string;
  status: SagaState['status'];
  sagaStep: SagaStep;
  cancellationReason: SagaState['cancellationReason'];
  totalCents: number;
  currency: string;
  paymentToken: string;
  stepAttempts: number;
  traceparent: string | null;
  createdAt: Date;
  items: { productId: string; quantity: number }[];
}

export class OrderSaga {
  readonly #transitions?: Counter;
  readonly #duration?: Histogram;

  constructor(
    private readonly timeouts: SagaTimeouts,
    private readonly logger: Logger,
    metrics?: Registry,
  ) {
    if (metrics) {
      this.#transitions = metric(
        metrics,
        'order_saga_transitions_total',
        () =>
          new Counter({
            name: 'order_saga_transitions_total',
            help: 'Saga step changes, by the step entered and what caused it (reply, deadline, cancel).',
            labelNames: ['to_step', 'cause'],
            registers: [metrics],
          }),
      );
      this.#duration = metric(
        metrics,
        'order_saga_duration_seconds',
        () =>
          new Histogram({
            name: 'order_saga_duration_seconds',
            help: 'Time from placing an order to its final status.',
            labelNames: ['status'],
            buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
            registers: [metrics],
          }),
      );
    }
  }

  /** The saga's first deadline, for the order row written by the caller. */
  firstDeadline(now = new Date()): Date {
    return deadlineFor('RESERVING_STOCK', 1, this.timeouts, now)!;
  }

  /** Sends the first messages of a new order, inside the transaction that created it. */
  async begin(
    tx: Transaction,
    order: Omit<OrderFacts, 'items'> & {
      items: { productId: string; quantity: number; unitPriceCents: number }[];
    },
  ): Promise<void> {
    const created = buildMessage(
      'order.created',
      order.orderId,
      {
        orderId: order.orderId,
        userId: order.userId,
        items: order.items.map(({ productId, quantity, unitPriceCents }) => ({
          productId,
          quantity,
          unitPriceCents,
        })),
        totalCents: order.totalCents,
        currency: order.currency,
      },
      { source: 'orders', traceparent: currentTraceparent() },
    );
    await enqueue(tx, created, ...this.#messages(order.orderId, start(order), currentTraceparent()));
  }

  /**
   * Applies one input to an order's saga inside the caller's transaction; returns whether anything
   * changed. The metrics are handed to `afterCommit`, so a rolled-back attempt does not count.
   */
  async apply(
    tx: Transaction,
    orderId: string,
    input: SagaInput,
    cause: string,
    afterCommit: AfterCommit,
  ): Promise<boolean> {
    // Plain SQL, three statements with the outbox's: this runs for every reply of every order,
    // and a Prisma model query costs several times the CPU of the same SQL (bench/FINDINGS.md).
    const rows = await tx.$queryRaw<LockedOrder[]>`
      SELECT o.id, o.user_id AS "userId", o.status, o.saga_step AS "sagaStep",
             o.cancellation_reason AS "cancellationReason", o.total_cents AS "totalCents", o.currency,
             o.payment_token AS "paymentToken", o.step_attempts AS "stepAttempts", o.traceparent,
             o.created_at AS "createdAt",
             (SELECT coalesce(json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity)
                                       ORDER BY i.product_id), '[]'::json)
                FROM order_items i WHERE i.order_id = o.id) AS items
        FROM orders o
       WHERE o.id = ${orderId}::uuid
       FOR UPDATE OF o`;
    const order = rows[0];
    if (!order) {
      this.logger.warn({ orderId, cause }, 'saga input for an unknown order; ignored');
      return false;
    }
    const state: SagaState = {
      step: order.sagaStep,
      status: order.status,
      cancellationReason: order.cancellationReason,
    };
    const facts: OrderFacts = {
      orderId,
      userId: order.userId,
      items: order.items,
      totalCents: order.totalCents,
      currency: order.currency.trim(),
      paymentToken: order.paymentToken,
    };
    const decision = decide(state, input, facts);
    const stepChanged = decision.state.step !== state.step;
    if (!stepChanged && decision.messages.length === 0) return false;

    const attempts = stepChanged ? 1 : decision.restartDeadline ? order.stepAttempts + 1 : order.stepAttempts;
    const deadline =
      decision.state.status === 'PENDING'
        ? deadlineFor(decision.state.step, attempts, this.timeouts, new Date())
        : null;
    const newDeadline = stepChanged || decision.restartDeadline || deadline === null;
    // The order's new state and, when the step changed, its history row, in one statement.
    await tx.$executeRaw`
      WITH changed AS (
        UPDATE orders
           SET status = ${decision.state.status}::order_status,
               saga_step = ${decision.state.step}::saga_step,
               cancellation_reason = ${decision.state.cancellationReason}::cancellation_reason,
               step_attempts = ${attempts},
               step_deadline = CASE WHEN ${newDeadline}::boolean THEN ${deadline}::timestamptz ELSE step_deadline END,
               updated_at = now()
         WHERE id = ${orderId}::uuid
        RETURNING id)
      INSERT INTO saga_transitions (order_id, from_step, to_step, cause)
      SELECT id, ${state.step}::saga_step, ${decision.state.step}::saga_step, ${cause}
        FROM changed
       WHERE ${stepChanged}::boolean`;
    const finishedAt = Date.now();
    afterCommit(() => {
      if (stepChanged) this.#transitions?.inc({ to_step: decision.state.step, cause: cause.split(':')[0] });
      if (decision.state.status !== 'PENDING') {
        const seconds = (finishedAt - order.createdAt.getTime()) / 1000;
        this.#duration?.observe({ status: decision.state.status }, seconds);
      }
    });
    await enqueue(
      tx,
      ...this.#messages(orderId, decision.messages, currentTraceparent() ?? order.traceparent),
    );
    return true;
  }

  #messages(orderId: string, outgoing: Outgoing[], traceparent: string | null) {
    return outgoing.map((m) =>
      buildMessage(m.type, orderId, m.data as never, { source: 'orders', traceparent }),
    );
  }

  /** The Kafka handlers: participants' replies, and deleted users whose pending orders are cancelled. */
  handlers(): MessageHandlers<Transaction> {
    const reply = async (message: Message, { tx, afterCommit }: HandlerContext<Transaction>) => {
      const data = message.data as { orderId: string; reason?: string };
      const input: SagaInput = { kind: 'reply', type: message.type as ReplyType, data };
      await this.apply(tx, data.orderId, input, message.type, afterCommit);
    };
    const replyTypes: ReplyType[] = [
      'stock.reserved',
      'stock.reservation-failed',
      'stock.released',
      'payment.authorized',
      'payment.authorization-failed',
      'payment.captured',
      'payment.capture-failed',
      'payment.voided',
      'payment.refunded',
    ];
    const handlers: MessageHandlers<Transaction> = Object.fromEntries(
      replyTypes.map((type) => [type, reply]),
    );
    handlers['user.deleted'] = async (message, { tx, afterCommit }) => {
      const pending = await tx.order.findMany({
        where: { userId: message.data.userId, status: 'PENDING' },
        select: { id: true },
        orderBy: { id: 'asc' },
      });
      for (const { id } of pending) {
        await this.apply(
          tx,
          id,
          { kind: 'cancel', reason: 'USER_DELETED' },
          'cancel:USER_DELETED',
          afterCommit,
        );
      }
    };
    return handlers;
  }

  /** Applies the deadline of every overdue step, one order per transaction; several replicas can sweep at once. */
  async sweep(prisma: PrismaClient, limit = 100): Promise<number> {
    const overdue = await prisma.$queryRaw<{ id: string; traceparent: string | null }[]>`
      SELECT id, traceparent FROM orders
       WHERE status = 'PENDING' AND step_deadline <= now()
       ORDER BY step_deadline LIMIT ${limit}`;
    let applied = 0;
    for (const { id, traceparent } of overdue) {
      const span = tracer.startSpan(
        'order saga deadline',
        { attributes: { 'shop.order.id': id } },
        contextFromTraceparent(traceparent),
      );
      const effects: (() => void)[] = [];
      try {
        const changed = await context.with(trace.setSpan(context.active(), span), () =>
          prisma.$transaction(async (tx) => {
            // Another replica, or the reply itself, may have moved the step since the scan: check under the lock.
            const still = await tx.$queryRaw<{ id: string }[]>`
              SELECT id FROM orders WHERE id = ${id}::uuid AND status = 'PENDING' AND step_deadline <= now()
               FOR UPDATE SKIP LOCKED`;
            if (still.length === 0) return false;
            return this.apply(tx, id, { kind: 'deadline' }, 'deadline', (effect) => effects.push(effect));
          }),
        );
        runEffects(effects, this.logger);
        if (changed) applied++;
      } catch (err) {
        this.logger.warn({ err, orderId: id }, 'applying a saga deadline failed; the next sweep retries');
      } finally {
        span.end();
      }
    }
    return applied;
  }
}

/** Runs the sweep on an interval until stopped. */
export class DeadlineSweeper {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(
    private readonly saga: OrderSaga,
    private readonly prisma: PrismaClient,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      this.#running = this.saga
        .sweep(this.prisma)
        .catch((err) => this.logger.warn({ err }, 'deadline sweep failed'));
      await this.#running;
      if (!this.#stopped) this.#timer = setTimeout(tick, this.intervalMs);
    };
    this.#timer = setTimeout(tick, this.intervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
