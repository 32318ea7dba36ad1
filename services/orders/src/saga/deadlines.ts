// How long each saga step may wait for its reply. Forward steps have one
// deadline each, named in the saga's table (steps.ts), after which the saga
// compensates; compensations are re-sent with doubling waits and never
// abandoned. The forward deadlines are derived from what a reply can
// legitimately take: a participant that crashed mid-step is back once its
// Kafka session has expired and it has restarted, and payments may then
// re-drive a provider call left by the crash before answering. A deadline
// shorter than that would cancel orders that were only waiting out a crash, so
// the configuration refuses one and names the variables.
import { formatDuration } from '@shop/platform';
import { type DeadlineVariable, orderSaga, orderSagaTable } from './steps.js';

export interface SagaTimeouts {
  /** Each forward step's deadline, by its variable. */
  forward: Record<DeadlineVariable, number>;
  compensationMs: number;
  compensationMaxMs: number;
}

/** What the deadlines are derived from (orders config). */
export type DeadlineInputs = {
  KAFKA_SESSION_TIMEOUT: number;
  SAGA_PARTICIPANT_RESTART: number;
  PAYMENT_COMMAND_BUDGET: number;
  SAGA_CRASHES_TOLERATED: number;
  SAGA_DEADLINE_MARGIN: number;
  SAGA_COMPENSATION_TIMEOUT: number;
  SAGA_COMPENSATION_MAX_BACKOFF: number;
} & Partial<Record<DeadlineVariable, number | undefined>>;

/** The least each forward step must wait, and the variables that make it up. */
export function minimumDeadlines(
  env: DeadlineInputs,
): Record<DeadlineVariable, { ms: number; formula: string }> {
  const crash = env.KAFKA_SESSION_TIMEOUT + env.SAGA_PARTICIPANT_RESTART;
  const minimums = {} as Record<DeadlineVariable, { ms: number; formula: string }>;
  for (const step of orderSagaTable.steps) {
    // Payments may have to re-drive a provider call a crash interrupted: two calls' worth.
    minimums[step.deadline] =
      step.target === 'payments'
        ? {
            ms: crash + 2 * env.PAYMENT_COMMAND_BUDGET,
            formula: 'KAFKA_SESSION_TIMEOUT + SAGA_PARTICIPANT_RESTART + 2 × PAYMENT_COMMAND_BUDGET',
          }
        : { ms: crash, formula: 'KAFKA_SESSION_TIMEOUT + SAGA_PARTICIPANT_RESTART' };
  }
  return minimums;
}

export type DerivedTimeouts =
  | { ok: true; timeouts: SagaTimeouts }
  | { ok: false; problems: { variable: string; message: string }[] };

/**
 * Each forward deadline as configured, or by default its minimum, plus one more crash for each
 * one tolerated beyond the first (a participant killed again while it was recovering), plus
 * SAGA_DEADLINE_MARGIN. Refuses a configured deadline below its minimum.
 */
export function deriveTimeouts(env: DeadlineInputs): DerivedTimeouts {
  const minimum = minimumDeadlines(env);
  const problems: { variable: string; message: string }[] = [];
  const forward = {} as Record<DeadlineVariable, number>;
  for (const variable of Object.keys(minimum) as DeadlineVariable[]) {
    const { ms, formula } = minimum[variable];
    const configured = env[variable];
    if (configured === undefined) {
      const moreCrashes =
        (env.SAGA_CRASHES_TOLERATED - 1) * (env.KAFKA_SESSION_TIMEOUT + env.SAGA_PARTICIPANT_RESTART);
      forward[variable] = ms + moreCrashes + env.SAGA_DEADLINE_MARGIN;
      continue;
    }
    if (configured < ms) {
      problems.push({
        variable,
        message:
          `${formatDuration(configured)} is shorter than ${formula} (${formatDuration(ms)}): an order would be ` +
          `cancelled while a participant is only recovering from a crash. Raise ${variable}, or lower those.`,
      });
    }
    forward[variable] = configured;
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    timeouts: {
      forward,
      compensationMs: env.SAGA_COMPENSATION_TIMEOUT,
      compensationMaxMs: env.SAGA_COMPENSATION_MAX_BACKOFF,
    },
  };
}

/** The deadline of `step` when its command has been sent `attempts` times (1 = first send). */
export function deadlineFor(
  step: string,
  attempts: number,
  timeouts: SagaTimeouts,
  nowMs: number,
): number | null {
  const deadline = orderSaga.deadlineOf(step);
  if (deadline === null) return null;
  if (deadline === 'compensation') {
    return (
      nowMs + Math.min(timeouts.compensationMaxMs, timeouts.compensationMs * 2 ** Math.max(0, attempts - 1))
    );
  }
  return nowMs + timeouts.forward[deadline];
}

/** Every forward step with the same deadline (tests, benchmarks). */
export function uniformTimeouts(
  forwardMs: number,
  compensationMs = 5000,
  compensationMaxMs = 60_000,
): SagaTimeouts {
  const forward = Object.fromEntries(
    orderSagaTable.steps.map((step) => [step.deadline, forwardMs]),
  ) as Record<DeadlineVariable, number>;
  return { forward, compensationMs, compensationMaxMs };
}
