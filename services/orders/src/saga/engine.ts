// A saga run from a table of steps: the generic state machine, written and
// tested once. The table (steps.ts) says, per step, its command and target,
// the reply that moves on and the replies that fail it, its compensation, its
// deadline and when it runs; this file decides, for any step of any table,
// where an order goes on a reply, a deadline or a cancellation, and which
// messages that sends. No I/O here.
//
// Forward, an order moves to the next step that runs for it; after the pivot
// (or the last step) it is confirmed. When a step fails or its deadline passes,
// the saga compensates in reverse: from the failed step itself when its effect
// may have happened (a timeout, an unknown outcome), else from the step before
// it, through every earlier step that ran for the order and has a compensation.
// The order is cancelled only once the last compensation is acknowledged.
// Compensations are never abandoned: an overdue one is sent again.
import type { MessageData, MessageType } from '@shop/contracts';

/** A command or event to send: one message type with its data. */
export type Outgoing = { [T in MessageType]: { type: T; data: MessageData<T> } }[MessageType];

/** How a failure reply ends its step: its effect surely did not happen, or it may have. */
export interface Failure<Reason extends string> {
  reason: Reason;
  outcome: 'failed' | 'unknown';
}

export interface StepRow<Facts, Reason extends string, Deadline extends string> {
  /** The order's state while the step's command is out, e.g. RESERVING_STOCK. */
  name: string;
  /** The service that carries the command out. */
  target: string;
  command: (facts: Facts) => Outgoing;
  /** The reply that completes the step. */
  success: MessageType;
  /** The replies that fail the step, and how each does. */
  failures: Partial<Record<MessageType, (data: Record<string, unknown>) => Failure<Reason>>>;
  /** What undoes the step, if anything does (with `null`, `uncompensated` says why nothing needs to). */
  compensation: {
    name: string;
    command: (facts: Facts) => Outgoing;
    replies: readonly MessageType[];
    /** What its acknowledgment records on the order. */
    records?: (data: Record<string, unknown>, recorded: Record<string, unknown>) => Record<string, unknown>;
  } | null;
  /** Why the step needs no compensation of its own. */
  uncompensated?: string;
  /** The configured deadline of the step's reply. */
  deadline: Deadline;
  /** The step runs only for orders this says yes to; every order when absent. */
  runsWhen?: { condition: string; test: (facts: Facts) => boolean };
  /** Once this step succeeds, nothing is compensated: the order is confirmed. */
  pivot?: boolean;
  /** What the success reply records on the order (beside its state: a shipment's tracking id, say). */
  records?: (data: Record<string, unknown>, recorded: Record<string, unknown>) => Record<string, unknown>;
}

export interface SagaTable<Facts, Reason extends string, Deadline extends string> {
  steps: readonly StepRow<Facts, Reason, Deadline>[];
  /** Sent when the order is confirmed. */
  confirm: (facts: Facts, recorded: Record<string, unknown>) => Outgoing[];
  /** Sent when the order is cancelled, once its compensations are done. */
  cancel: (facts: Facts, reason: Reason) => Outgoing[];
  /** The reason a step is given up on when its deadline passes. */
  timeoutReason: Reason;
}

export type Status = 'PENDING' | 'CONFIRMED' | 'CANCELLED';
export const DONE = 'DONE';

export interface SagaState<Reason extends string> {
  /** A step's name, a compensation's name, or DONE. */
  step: string;
  status: Status;
  cancellationReason: Reason | null;
}

export type SagaInput<Reason extends string> =
  | { kind: 'reply'; type: MessageType; data: Record<string, unknown> }
  | { kind: 'deadline' }
  | { kind: 'cancel'; reason: Reason };

export interface Decision<Reason extends string> {
  state: SagaState<Reason>;
  /** Commands and events to send, in this order. */
  messages: Outgoing[];
  /** Whether the step changed or its command was sent again, so its deadline restarts. */
  restartDeadline: boolean;
  /** What to record on the order (a row's `records`): merged over what was recorded before. */
  records: Record<string, unknown>;
}

export interface Saga<Facts, Reason extends string, Deadline extends string> {
  table: SagaTable<Facts, Reason, Deadline>;
  /** Every state an order can be in: the steps, their compensations, DONE. */
  states: readonly string[];
  /** Every reply type the saga acts on (its consumer's handled types). */
  replyTypes: readonly MessageType[];
  /** The first state and command of a new order. */
  start(facts: Facts): { state: SagaState<Reason>; messages: Outgoing[] };
  decide(
    state: SagaState<Reason>,
    input: SagaInput<Reason>,
    facts: Facts,
    recorded?: Record<string, unknown>,
  ): Decision<Reason>;
  /** The deadline a forward step's reply has, or `compensation` for a compensation, or none once done. */
  deadlineOf(step: string): Deadline | 'compensation' | null;
  isCompensation(step: string): boolean;
}

export function createSaga<Facts, Reason extends string, Deadline extends string>(
  table: SagaTable<Facts, Reason, Deadline>,
): Saga<Facts, Reason, Deadline> {
  const { steps } = table;
  const forward = new Map(steps.map((step, index) => [step.name, index]));
  const compensating = new Map(
    steps.flatMap((step, index) => (step.compensation ? [[step.compensation.name, index] as const] : [])),
  );
  const runs = (index: number, facts: Facts) => steps[index]!.runsWhen?.test(facts) ?? true;
  const nextForward = (after: number, facts: Facts) => {
    for (let i = after + 1; i < steps.length; i++) if (runs(i, facts)) return i;
    return undefined;
  };
  /** The latest step at or before `from` that ran for the order and has a compensation. */
  const compensationFrom = (from: number, facts: Facts) => {
    for (let i = from; i >= 0; i--) if (runs(i, facts) && steps[i]!.compensation) return i;
    return undefined;
  };

  const unchanged = (state: SagaState<Reason>): Decision<Reason> => ({
    state,
    messages: [],
    restartDeadline: false,
    records: {},
  });
  const enter = (state: SagaState<Reason>, index: number, facts: Facts, records = {}): Decision<Reason> => ({
    state: { ...state, step: steps[index]!.name },
    messages: [steps[index]!.command(facts)],
    restartDeadline: true,
    records,
  });
  const compensate = (state: SagaState<Reason>, index: number, facts: Facts): Decision<Reason> => {
    const compensation = steps[index]!.compensation!;
    return {
      state: { ...state, step: compensation.name },
      messages: [compensation.command(facts)],
      restartDeadline: true,
      records: {},
    };
  };
  const cancelled = (reason: Reason, facts: Facts): Decision<Reason> => ({
    state: { step: DONE, status: 'CANCELLED', cancellationReason: reason },
    messages: table.cancel(facts, reason),
    restartDeadline: false,
    records: {},
  });
  /** Undoes, in reverse, what the step at `index` and those before it may have done. */
  const giveUp = (
    state: SagaState<Reason>,
    index: number,
    reason: Reason,
    outcome: Failure<Reason>['outcome'],
    facts: Facts,
  ): Decision<Reason> => {
    const first = compensationFrom(outcome === 'unknown' ? index : index - 1, facts);
    const withReason = { ...state, cancellationReason: reason };
    return first === undefined ? cancelled(reason, facts) : compensate(withReason, first, facts);
  };

  const replyTypes = [
    ...new Set(
      steps.flatMap((step) => [
        step.success,
        ...(Object.keys(step.failures) as MessageType[]),
        ...(step.compensation?.replies ?? []),
      ]),
    ),
  ];

  return {
    table,
    states: [
      ...steps.map((s) => s.name),
      ...steps.flatMap((s) => (s.compensation ? [s.compensation.name] : [])),
      DONE,
    ],
    replyTypes,
    start(facts) {
      const first = nextForward(-1, facts);
      if (first === undefined) throw new Error('a saga needs at least one step that runs');
      const state: SagaState<Reason> = {
        step: steps[first]!.name,
        status: 'PENDING',
        cancellationReason: null,
      };
      return { state, messages: [steps[first]!.command(facts)] };
    },
    decide(state, input, facts, recorded = {}) {
      if (state.step === DONE) return unchanged(state);
      const stepIndex = forward.get(state.step);
      const compensationIndex = compensating.get(state.step);
      if (stepIndex === undefined && compensationIndex === undefined)
        throw new Error(`the saga has no step or compensation named ${state.step}`);

      if (compensationIndex !== undefined) {
        // Compensating: a deadline sends the compensation again; a cancellation changes nothing.
        if (input.kind === 'deadline') return { ...compensate(state, compensationIndex, facts) };
        if (input.kind === 'cancel') return unchanged(state);
        const done = steps[compensationIndex]!.compensation!;
        if (!done.replies.includes(input.type)) return unchanged(state);
        const records = done.records?.(input.data, recorded) ?? {};
        const next = compensationFrom(compensationIndex - 1, facts);
        const decision =
          next === undefined
            ? cancelled(state.cancellationReason ?? table.timeoutReason, facts)
            : compensate(state, next, facts);
        return { ...decision, records };
      }

      const index = stepIndex!;
      const step = steps[index]!;
      if (input.kind === 'deadline') return giveUp(state, index, table.timeoutReason, 'unknown', facts);
      if (input.kind === 'cancel') return giveUp(state, index, input.reason, 'unknown', facts);
      if (input.type === step.success) {
        const records = step.records?.(input.data, recorded) ?? {};
        const next = step.pivot ? undefined : nextForward(index, facts);
        if (next !== undefined) return enter(state, next, facts, records);
        return {
          state: { step: DONE, status: 'CONFIRMED', cancellationReason: null },
          messages: table.confirm(facts, { ...recorded, ...records }),
          restartDeadline: false,
          records,
        };
      }
      const failure = step.failures[input.type];
      if (!failure) return unchanged(state); // a late or repeated reply
      const { reason, outcome } = failure(input.data);
      return giveUp(state, index, reason, outcome, facts);
    },
    deadlineOf(step) {
      if (step === DONE) return null;
      const index = forward.get(step);
      if (index !== undefined) return steps[index]!.deadline;
      return compensating.has(step) ? 'compensation' : null;
    },
    isCompensation(step) {
      return compensating.has(step);
    },
  };
}
