// How long each saga step may wait for its reply. Forward steps have one
// deadline, after which the saga compensates; compensations are re-sent with
// doubling waits and never abandoned.
import type { SagaStep } from './order-saga.js';

export interface SagaTimeouts {
  reserveMs: number;
  authorizeMs: number;
  captureMs: number;
  compensationMs: number;
  compensationMaxMs: number;
}

/** The deadline of `step` when its command has been sent `attempts` times (1 = first send). */
export function deadlineFor(
  step: SagaStep,
  attempts: number,
  timeouts: SagaTimeouts,
  now: Date,
): Date | null {
  const ms = waitFor(step, attempts, timeouts);
  return ms === null ? null : new Date(now.getTime() + ms);
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
