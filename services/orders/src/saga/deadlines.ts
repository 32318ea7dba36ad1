// How long each saga step may wait for its reply. Forward steps have one
// deadline, after which the saga compensates; compensations are re-sent with
// doubling waits and never abandoned. The forward deadlines are derived from
// what a reply can legitimately take: a participant that crashed mid-step is
// back once its Kafka session has expired and it has restarted, and payments
// may then re-drive a provider call left by the crash before answering. A
// deadline shorter than that would cancel orders that were only waiting out a
// crash, so the configuration refuses one and names the variables.
import { formatDuration } from '@shop/platform';
import type { SagaStep } from './order-saga.js';

export interface SagaTimeouts {
  reserveMs: number;
  authorizeMs: number;
  captureMs: number;
  compensationMs: number;
  compensationMaxMs: number;
}

/** What the deadlines are derived from (orders config). */
export interface DeadlineInputs {
  KAFKA_SESSION_TIMEOUT: number;
  SAGA_PARTICIPANT_RESTART: number;
  PAYMENT_COMMAND_BUDGET: number;
  SAGA_DEADLINE_MARGIN: number;
  SAGA_RESERVE_TIMEOUT?: number | undefined;
  SAGA_AUTHORIZE_TIMEOUT?: number | undefined;
  SAGA_CAPTURE_TIMEOUT?: number | undefined;
  SAGA_COMPENSATION_TIMEOUT: number;
  SAGA_COMPENSATION_MAX_BACKOFF: number;
}

type ForwardDeadline = 'SAGA_RESERVE_TIMEOUT' | 'SAGA_AUTHORIZE_TIMEOUT' | 'SAGA_CAPTURE_TIMEOUT';

/** The least each forward step must wait, and the variables that make it up. */
export function minimumDeadlines(
  env: DeadlineInputs,
): Record<ForwardDeadline, { ms: number; formula: string }> {
  const crash = env.KAFKA_SESSION_TIMEOUT + env.SAGA_PARTICIPANT_RESTART;
  const payment = crash + 2 * env.PAYMENT_COMMAND_BUDGET;
  const paymentFormula = 'KAFKA_SESSION_TIMEOUT + SAGA_PARTICIPANT_RESTART + 2 × PAYMENT_COMMAND_BUDGET';
  return {
    SAGA_RESERVE_TIMEOUT: { ms: crash, formula: 'KAFKA_SESSION_TIMEOUT + SAGA_PARTICIPANT_RESTART' },
    SAGA_AUTHORIZE_TIMEOUT: { ms: payment, formula: paymentFormula },
    SAGA_CAPTURE_TIMEOUT: { ms: payment, formula: paymentFormula },
  };
}

export type DerivedTimeouts =
  | { ok: true; timeouts: SagaTimeouts }
  | { ok: false; problems: { variable: string; message: string }[] };

/** Each forward deadline as configured, or its minimum plus SAGA_DEADLINE_MARGIN; refuses one below its minimum. */
export function deriveTimeouts(env: DeadlineInputs): DerivedTimeouts {
  const minimum = minimumDeadlines(env);
  const problems: { variable: string; message: string }[] = [];
  const pick = (variable: ForwardDeadline): number => {
    const { ms, formula } = minimum[variable];
    const configured = env[variable];
    if (configured === undefined) return ms + env.SAGA_DEADLINE_MARGIN;
    if (configured < ms) {
      problems.push({
        variable,
        message:
          `${formatDuration(configured)} is shorter than ${formula} (${formatDuration(ms)}): an order would be ` +
          `cancelled while a participant is only recovering from a crash. Raise ${variable}, or lower those.`,
      });
    }
    return configured;
  };
  const timeouts: SagaTimeouts = {
    reserveMs: pick('SAGA_RESERVE_TIMEOUT'),
    authorizeMs: pick('SAGA_AUTHORIZE_TIMEOUT'),
    captureMs: pick('SAGA_CAPTURE_TIMEOUT'),
    compensationMs: env.SAGA_COMPENSATION_TIMEOUT,
    compensationMaxMs: env.SAGA_COMPENSATION_MAX_BACKOFF,
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, timeouts };
}

/** The deadline of `step` when its command has been sent `attempts` times (1 = first send). */
export function deadlineFor(
  step: SagaStep,
  attempts: number,
  timeouts: SagaTimeouts,
  nowMs: number,
): number | null {
  const ms = waitFor(step, attempts, timeouts);
  return ms === null ? null : nowMs + ms;
}

function waitFor(step: SagaStep, attempts: number, t: SagaTimeouts): number | null {
  switch (step) {
    case 'RESERVING_STOCK':
      return t.reserveMs;
    case 'AUTHORIZING_PAYMENT':
      return t.authorizeMs;
    case 'CAPTURING_PAYMENT':
      return t.captureMs;
    case 'VOIDING_PAYMENT':
    case 'REFUNDING_PAYMENT':
    case 'RELEASING_STOCK':
      return Math.min(t.compensationMaxMs, t.compensationMs * 2 ** Math.max(0, attempts - 1));
    case 'DONE':
      return null;
  }
}
