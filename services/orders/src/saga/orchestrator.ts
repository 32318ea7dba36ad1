// The saga orchestrator: the I/O around the pure state machine (engine.ts
// running the table in steps.ts).
// Inputs (participants' replies, overdue steps, cancellations) are applied in
// batches inside one transaction: one statement locks the orders they concern
// (in id order), the state machine decides each input in turn in memory, and
// one statement writes every new state with its deadline and history rows and
// wakes the clients waiting on a finished order; the outgoing commands and
// events go to the outbox in one more. A crash at any moment leaves either the
// old states or the new ones with their messages.
import { buildMessage, type Message, type MessageType } from '@shop/contracts';
import {
  type AfterCommit,
  Counter,
  type Database,
  enqueue,
  Histogram,
  type Logger,
  type MessageHandling,
  metric,
  type Registry,
  runEffects,
  type Sql,
} from '@shop/platform';
import { ORDER_STATUS_CHANNEL } from '../order-watch.js';
import { deadlineFor, type SagaTimeouts } from './deadlines.js';
import type { Outgoing, SagaInput, SagaState } from './engine.js';
import {
  type CancellationReason,
  type OrderFacts,
  orderCreated,
  orderSaga,
  type PricedOrder,
  type RecordedShipment,
} from './steps.js';

type State = SagaState<CancellationReason>;

/** One input for one order, with the trace context its messages continue. */
export interface SagaEvent {
  orderId: string;
  input: SagaInput<CancellationReason>;
  /** What moved the saga, for its history: a reply's type, "deadline" or "cancel:<reason>". */
  cause: string;
  traceparent: string | null;
}

interface LockedOrder {
  id: string;
  user_id: string;
  status: State['status'];
  saga_step: string;
  cancellation_reason: CancellationReason | null;
  total_cents: number;
  currency: string;
  payment_token: string;
  step_attempts: number;
  traceparent: string | null;
  created_ms: number;
  items: [string, number][];
  shipping_address: OrderFacts['shippingAddress'];
  shipment: RecordedShipment | null;
}

/** An order as the batch leaves it. */
interface Working {
  facts: OrderFacts;
  state: State;
  attempts: number;
  /** The new deadline, or 'keep' while no decision has moved it. */
  deadlineMs: number | null | 'keep';
  touched: boolean;
  traceparent: string | null;
  createdMs: number;
  statusBefore: State['status'];
  /** What replies recorded on the order: its shipment (the `shipment` column). */
  recorded: { shipment?: RecordedShipment };
  recordedChanged: boolean;
}

const LOCK = {
  name: 'orders-saga-lock',
  text: `SELECT o.id, o.user_id, o.status, o.saga_step, o.cancellation_reason, o.total_cents, o.currency,
                o.payment_token, o.step_attempts, o.traceparent, o.shipping_address, o.shipment,
                (extract(epoch FROM o.created_at) * 1000)::float8 AS created_ms,
                (SELECT coalesce(json_agg(json_build_array(i.product_id, i.quantity) ORDER BY i.product_id), '[]')
                   FROM order_items i WHERE i.order_id = o.id) AS items
           FROM orders o WHERE o.id = ANY($1::uuid[]) ORDER BY o.id FOR UPDATE OF o`,
};

// Every changed order, its history rows, and a NOTIFY per order that reached its final status.
const WRITE = {
  name: 'orders-saga-write',
  text: `WITH changed AS (
           UPDATE orders o
              SET status = u.status::order_status, saga_step = u.step::saga_step,
                  cancellation_reason = u.reason::cancellation_reason, step_attempts = u.attempts,
                  step_deadline = CASE WHEN u.keep THEN o.step_deadline ELSE to_timestamp(u.deadline_ms / 1000) END,
                  shipment = CASE WHEN u.shipment_changed THEN u.shipment ELSE o.shipment END,
                  updated_at = now()
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::float8[], $7::bool[],
                         $13::jsonb[], $14::bool[])
                  AS u(id, status, step, reason, attempts, deadline_ms, keep, shipment, shipment_changed)
            WHERE o.id = u.id),
         history AS (
           INSERT INTO saga_transitions (order_id, from_step, to_step, cause)
           SELECT * FROM unnest($8::uuid[], $9::text[], $10::text[], $11::text[]))
         SELECT count(pg_notify('${ORDER_STATUS_CHANNEL}', f)) FROM unnest($12::text[]) AS f`,
};

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

  /** The deadline of a new order's first step, for the order row written by the caller. */
  firstDeadline(step: string, nowMs = Date.now()): number {
    return deadlineFor(step, 1, this.timeouts, nowMs)!;
  }

  /** The first step of a new order and its messages (order.created and the step's command), for the transaction that creates it. */
  begin(order: PricedOrder, traceparent: string | null): { step: string; messages: Message[] } {
    const first = orderSaga.start(order);
    return {
      step: first.state.step,
      messages: this.#messages(order.orderId, [orderCreated(order), ...first.messages], traceparent),
    };
  }

  /**
   * Applies inputs, in order, inside the caller's transaction; returns how many orders changed.
   * The metrics are handed to `afterCommit`, so a rolled-back batch does not count.
   */
  async apply(tx: Sql, events: readonly SagaEvent[], afterCommit: AfterCommit): Promise<number> {
    if (events.length === 0) return 0;
    const { rows } = await tx.query<LockedOrder>({
      ...LOCK,
      values: [[...new Set(events.map((e) => e.orderId))]],
    });
    const orders = new Map(rows.map((row) => [row.id, working(row)]));
    const transitions: { id: string; from: string; to: string; cause: string }[] = [];
    const outgoing: Message[] = [];
    const nowMs = Date.now();

    for (const event of events) {
      const order = orders.get(event.orderId);
      if (!order) {
        this.logger.warn(
          { orderId: event.orderId, cause: event.cause },
          'saga input for an unknown order; ignored',
        );
        continue;
      }
      const before = order.state;
      const decision = orderSaga.decide(before, event.input, order.facts, order.recorded);
      const stepChanged = decision.state.step !== before.step;
      if (!stepChanged && decision.messages.length === 0) continue;
      order.touched = true;
      order.attempts = stepChanged ? 1 : decision.restartDeadline ? order.attempts + 1 : order.attempts;
      const deadline =
        decision.state.status === 'PENDING'
          ? deadlineFor(decision.state.step, order.attempts, this.timeouts, nowMs)
          : null;
      if (stepChanged || decision.restartDeadline || deadline === null) order.deadlineMs = deadline;
      order.state = decision.state;
      if (Object.keys(decision.records).length > 0) {
        order.recorded = { ...order.recorded, ...decision.records };
        order.recordedChanged = true;
      }
      if (stepChanged)
        transitions.push({
          id: event.orderId,
          from: before.step,
          to: decision.state.step,
          cause: event.cause,
        });
      outgoing.push(
        ...this.#messages(event.orderId, decision.messages, event.traceparent ?? order.traceparent),
      );
    }

    const changed = [...orders].filter(([, order]) => order.touched);
    if (changed.length === 0) return 0;
    const finished = changed.filter(([, o]) => o.statusBefore === 'PENDING' && o.state.status !== 'PENDING');
    await tx.query({
      ...WRITE,
      values: [
        changed.map(([id]) => id),
        changed.map(([, o]) => o.state.status),
        changed.map(([, o]) => o.state.step),
        changed.map(([, o]) => o.state.cancellationReason),
        changed.map(([, o]) => o.attempts),
        changed.map(([, o]) => (o.deadlineMs === 'keep' ? null : o.deadlineMs)),
        changed.map(([, o]) => o.deadlineMs === 'keep'),
        transitions.map((t) => t.id),
        transitions.map((t) => t.from),
        transitions.map((t) => t.to),
        transitions.map((t) => t.cause),
        finished.map(([id]) => id),
        changed.map(([, o]) => (o.recorded.shipment ? JSON.stringify(o.recorded.shipment) : null)),
        changed.map(([, o]) => o.recordedChanged),
      ],
    });
    await enqueue(tx, ...outgoing);
    const finishedAt = Date.now();
    afterCommit(() => {
      for (const t of transitions) this.#transitions?.inc({ to_step: t.to, cause: t.cause.split(':')[0] });
      for (const [, o] of finished)
        this.#duration?.observe({ status: o.state.status }, (finishedAt - o.createdMs) / 1000);
    });
    return changed.length;
  }

  #messages(orderId: string, outgoing: Outgoing[], traceparent: string | null): Message[] {
    return outgoing.map((m) =>
      buildMessage(m.type, orderId, m.data as never, { source: 'orders', traceparent }),
    );
  }

  /** The consumer's handling: participants' replies, and deleted users whose pending orders are cancelled. */
  handling(): MessageHandling {
    const types: MessageType[] = [...orderSaga.replyTypes, 'user.deleted'];
    return {
      types,
      handle: async (messages, { tx, afterCommit, traceparent }) => {
        const deletedUsers = messages.flatMap((m) => (m.type === 'user.deleted' ? [m.data.userId] : []));
        const pendingByUser = new Map<string, string[]>();
        if (deletedUsers.length > 0) {
          const { rows } = await tx.query<{ id: string; user_id: string }>(
            `SELECT id, user_id FROM orders WHERE user_id = ANY($1::uuid[]) AND status = 'PENDING' ORDER BY id`,
            [deletedUsers],
          );
          for (const row of rows)
            pendingByUser.set(row.user_id, [...(pendingByUser.get(row.user_id) ?? []), row.id]);
        }
        const events = messages.flatMap((message): SagaEvent[] => {
          if (message.type === 'user.deleted') {
            return (pendingByUser.get(message.data.userId) ?? []).map((orderId) => ({
              orderId,
              input: { kind: 'cancel', reason: 'USER_DELETED' },
              cause: 'cancel:USER_DELETED',
              traceparent: traceparent(message),
            }));
          }
          const data = message.data as { orderId: string; reason?: string };
          return [
            {
              orderId: data.orderId,
              input: { kind: 'reply', type: message.type, data },
              cause: message.type,
              traceparent: traceparent(message),
            },
          ];
        });
        await this.apply(tx, events, afterCommit);
      },
    };
  }

  /**
   * Applies the deadline of overdue steps, a batch of orders in one transaction. Several replicas
   * can sweep at once: each claims its orders with SKIP LOCKED and never waits for a row.
   */
  async sweep(database: Database, limit = 200): Promise<number> {
    // Most sweeps find nothing: one read, without a transaction, says so. Both statements are
    // unnamed (planned each time): a queue scan's best plan depends on what the table holds now.
    const { rows: due } = await database.query({
      text: `SELECT 1 FROM orders WHERE status = 'PENDING' AND step_deadline <= now() LIMIT 1`,
    });
    if (due.length === 0) return 0;
    const effects: (() => unknown)[] = [];
    const applied = await database.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>({
        text: `SELECT id FROM orders WHERE status = 'PENDING' AND step_deadline <= now()
                ORDER BY step_deadline LIMIT $1 FOR UPDATE SKIP LOCKED`,
        values: [limit],
      });
      const events = rows.map(
        ({ id }): SagaEvent => ({
          orderId: id,
          input: { kind: 'deadline' },
          cause: 'deadline',
          traceparent: null,
        }),
      );
      return this.apply(tx, events, (effect) => effects.push(effect));
    });
    runEffects(effects, this.logger);
    return applied;
  }
}

function working(row: LockedOrder): Working {
  return {
    facts: {
      orderId: row.id,
      userId: row.user_id,
      items: row.items.map(([productId, quantity]) => ({ productId, quantity })),
      totalCents: row.total_cents,
      currency: row.currency.trim(),
      paymentToken: row.payment_token,
      shippingAddress: row.shipping_address,
    },
    state: { step: row.saga_step, status: row.status, cancellationReason: row.cancellation_reason },
    attempts: row.step_attempts,
    deadlineMs: 'keep',
    touched: false,
    traceparent: row.traceparent,
    createdMs: row.created_ms,
    statusBefore: row.status,
    recorded: row.shipment ? { shipment: row.shipment } : {},
    recordedChanged: false,
  };
}
/** Runs the sweep on an interval until stopped, at once again while it finds a full batch. */
export class DeadlineSweeper {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(
    private readonly saga: OrderSaga,
    private readonly database: Database,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      this.#running = this.saga.sweep(this.database).catch((err) => {
        this.logger.warn({ err }, 'deadline sweep failed; the next one retries');
        return 0;
      });
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
