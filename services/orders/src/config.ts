import { databaseEnv, duration, kafkaEnv, messagingEnv, paymentBudgetEnv, serviceEnv } from '@shop/platform';
import { z } from 'zod';
import { deriveTimeouts, type SagaTimeouts } from './saga/deadlines.js';
import { type DeadlineVariable, deadlineVariables } from './saga/steps.js';

/** One optional variable per forward step's deadline, as the saga's table names them. */
const deadlineFields = Object.fromEntries(
  deadlineVariables.map((name) => [name, duration.optional()]),
) as Record<DeadlineVariable, ReturnType<typeof duration.optional>>;

const ordersFields = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(messagingEnv.shape)
  .extend(paymentBudgetEnv.shape)
  .extend({
    INVENTORY_URL: z.url().default('http://127.0.0.1:8082'),
    /**
     * How long a participant (inventory, payments) that crashed may take to be running again.
     * Part of every forward deadline (saga/deadlines.ts).
     */
    SAGA_PARTICIPANT_RESTART: duration.prefault('10s'),
    /**
     * How many crashes of one participant in a row a default deadline waits out: a service killed
     * again while it recovers should delay its orders, not cancel them. At least 1 (the minimum).
     */
    SAGA_CRASHES_TOLERATED: z.coerce.number().int().min(1).max(10).default(2),
    /** Added to each forward deadline when the deadline itself is not set. */
    SAGA_DEADLINE_MARGIN: duration.prefault('5s'),
    /** First wait before a compensation is sent again; it doubles up to SAGA_COMPENSATION_MAX_BACKOFF. */
    SAGA_COMPENSATION_TIMEOUT: duration.prefault('5s'),
    SAGA_COMPENSATION_MAX_BACKOFF: duration.prefault('60s'),
    /** How often overdue steps are looked for. */
    SAGA_SWEEP_INTERVAL: duration.prefault('500ms'),
    /** At most this many replies of one partition are applied in one transaction. */
    SAGA_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(100),
    /**
     * A client's Idempotency-Key is remembered this long: a retry within it gets the first order
     * back, a reuse after it places a new order.
     */
    IDEMPOTENCY_KEY_RETENTION: duration.prefault('24h'),
    /**
     * The longest `Prefer: wait=N` honoured on GET /orders/:id (a longer wish is cut to this, and the
     * client asks again). Below the gateway's UPSTREAM_TIMEOUT (10s), which would otherwise answer 504
     * first; the event stream (GET /orders/:id/events) has no such limit.
     */
    ORDER_WAIT_MAX: duration.prefault('8s'),
  })
  /**
   * How long each forward step may wait for its reply before the saga compensates (SAGA_RESERVE_TIMEOUT,
   * SAGA_AUTHORIZE_TIMEOUT, ...: the table names them). Unset, each is derived (saga/deadlines.ts); set,
   * it must not be below its minimum or orders refuses to start.
   */
  .extend(deadlineFields);

/** The orders configuration, with the saga's deadlines derived and checked against each other. */
export const ordersEnv = ordersFields.transform((env, ctx) => {
  const derived = deriveTimeouts(env);
  if (!derived.ok) {
    for (const problem of derived.problems)
      ctx.addIssue({ code: 'custom', path: [problem.variable], message: problem.message });
    return z.NEVER;
  }
  return { ...env, sagaTimeouts: derived.timeouts satisfies SagaTimeouts };
});
export type OrdersConfig = z.infer<typeof ordersEnv>;
