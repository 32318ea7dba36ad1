// Deciding a batch of the saga's payment commands, before any provider call.
// For each command, in the order they arrived, against the payments as they
// stand (locked by the caller): answer it from the record, or record the
// provider call it needs as the payment's pending operation (the intent, made
// durable by the consumer's commit before anyone calls the provider). While an
// operation is pending, further commands for that order are ignored: a repeated
// forward command is answered by the pending operation's own reply, and the
// saga sends a compensation again when its deadline passes. No I/O here.
import type { MessageData } from '@shop/contracts';
import {
  type AuthorizeCommand,
  decideAuthorize,
  decideCapture,
  type Payment,
  type Reply,
} from './payment.js';
import { type Compensation, decideRelease, type ReleaseDecision } from './release.js';

export type PaymentCommand =
  | { type: 'payment.authorize'; data: AuthorizeCommand }
  | { type: 'payment.capture'; data: MessageData<'payment.capture'> }
  | { type: 'payment.void'; data: MessageData<'payment.void'> }
  | { type: 'payment.refund'; data: MessageData<'payment.refund'> };

/** What must be asked of the provider, with everything needed to ask again after a crash. */
export type ProviderCall =
  | { kind: 'authorize'; command: AuthorizeCommand }
  | { kind: 'capture'; authorizationId: string }
  | { kind: 'release'; compensation: Compensation; decision: Exclude<ReleaseDecision, { action: 'reply' }> };

export interface PendingOperation {
  id: string;
  call: ProviderCall;
}

/** A payment row as the command handling sees it: the payment and its pending operation, if any. */
export interface PaymentRecord extends Payment {
  pending: PendingOperation | null;
}

export interface CommandPlan {
  /** Rows that did not exist, in their state after the batch. */
  created: Map<string, PaymentRecord>;
  /** Existing rows that changed, in their state after the batch. */
  changed: Map<string, PaymentRecord>;
  /** By command index: the reply given from the record, if any. */
  replies: (Reply | undefined)[];
  /** By command index: the operation recorded for it, if any. */
  operations: (PendingOperation | undefined)[];
}

/** A command that contradicts the payment on record: a bug upstream, not something to charge for. */
export class PaymentCommandRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PaymentCommandRejected';
  }
}

export interface PlanIds {
  /** A new payment id. */
  payment: () => string;
  /** A new operation id. */
  operation: () => string;
}

export function planCommands(
  commands: readonly PaymentCommand[],
  records: ReadonlyMap<string, PaymentRecord>,
  ids: PlanIds,
): CommandPlan {
  const current = new Map(records);
  const plan: CommandPlan = {
    created: new Map(),
    changed: new Map(),
    replies: commands.map(() => undefined),
    operations: commands.map(() => undefined),
  };
  const save = (record: PaymentRecord) => {
    current.set(record.orderId, record);
    if (records.has(record.orderId)) plan.changed.set(record.orderId, record);
    else plan.created.set(record.orderId, record);
  };
  const begin = (index: number, record: PaymentRecord, call: ProviderCall) => {
    const operation = { id: ids.operation(), call };
    plan.operations[index] = operation;
    save({ ...record, pending: operation });
  };

  commands.forEach((command, index) => {
    const { orderId } = command.data;
    const existing = current.get(orderId);
    if (existing?.pending) return; // its operation's reply answers for it, or the saga asks again
    switch (command.type) {
      case 'payment.authorize': {
        const record = existing ?? newPayment(ids.payment(), orderId, 'AUTHORIZING', command.data);
        const decision = decideAuthorize(record, command.data);
        if (decision.action === 'reject') throw new PaymentCommandRejected(decision.why);
        if (decision.action === 'reply') plan.replies[index] = decision.reply;
        else begin(index, record, { kind: 'authorize', command: command.data });
        if (!existing && decision.action !== 'authorize') save(record);
        return;
      }
      case 'payment.capture': {
        const decision = decideCapture(existing, orderId);
        if (decision.action === 'reply') plan.replies[index] = decision.reply;
        else begin(index, existing!, { kind: 'capture', authorizationId: decision.authorizationId });
        return;
      }
      case 'payment.void':
      case 'payment.refund': {
        const compensation = command.type === 'payment.void' ? 'void' : 'refund';
        // With no payment yet, a VOIDED tombstone: the authorize still on its way is then refused.
        const record = existing ?? newPayment(ids.payment(), orderId, 'VOIDED');
        const decision = decideRelease(record, compensation);
        if (decision.action === 'reply') {
          plan.replies[index] = decision.reply;
          if (!existing) save(record);
        } else begin(index, record, { kind: 'release', compensation, decision });
        return;
      }
    }
  });
  return plan;
}

function newPayment(
  id: string,
  orderId: string,
  status: 'AUTHORIZING' | 'VOIDED',
  terms?: AuthorizeCommand,
): PaymentRecord {
  return {
    id,
    orderId,
    status,
    userId: terms?.userId ?? null,
    amountCents: terms?.amountCents ?? null,
    currency: terms?.currency ?? null,
    providerAuthorizationId: null,
    pending: null,
  };
}
