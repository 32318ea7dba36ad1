import { describe, expect, it } from 'vitest';
import {
  decide,
  initialState,
  type OrderFacts,
  type ReplyType,
  type SagaInput,
  type SagaState,
  type SagaStep,
  start,
} from '../src/saga/order-saga.js';

const order: OrderFacts = {
  orderId: '0b5f7c1e-2f1e-4c8e-9a57-3d1f0e6c2a11',
  userId: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d',
  items: [{ productId: '9c3e4b1a-7d2f-4e6b-8a1c-5f0d2e3b4a6c', quantity: 2 }],
  totalCents: 2598,
  currency: 'EUR',
  paymentToken: 'tok_visa',
};

const reply = (type: ReplyType, reason?: string): SagaInput => ({
  kind: 'reply',
  type,
  data: reason ? { reason } : {},
});
const at = (step: SagaStep, reason: SagaState['cancellationReason'] = null): SagaState => ({
  step,
  status: 'PENDING',
  cancellationReason: reason,
});

/** Runs inputs from the initial state; returns the final state and every message type sent. */
function run(...inputs: SagaInput[]) {
  let state = initialState;
  const sent: string[] = start(order).map((m) => m.type);
  for (const input of inputs) {
    const decision = decide(state, input, order);
    state = decision.state;
    sent.push(...decision.messages.map((m) => m.type));
  }
  return { state, sent };
}

describe('order saga', () => {
  it('confirms after reserve, authorize and capture, then commits the stock', () => {
    const { state, sent } = run(
      reply('stock.reserved'),
      reply('payment.authorized'),
      reply('payment.captured'),
    );
    expect(state).toEqual({ step: 'DONE', status: 'CONFIRMED', cancellationReason: null });
    expect(sent).toEqual([
      'stock.reserve',
      'payment.authorize',
      'payment.capture',
      'stock.commit',
      'order.confirmed',
    ]);
  });

  it('sends the payment command with the order amount and token', () => {
    const decision = decide(initialState, reply('stock.reserved'), order);
    expect(decision.messages).toEqual([
      {
        type: 'payment.authorize',
        data: {
          orderId: order.orderId,
          userId: order.userId,
          amountCents: 2598,
          currency: 'EUR',
          token: 'tok_visa',
        },
      },
    ]);
    expect(decision.restartDeadline).toBe(true);
  });

  it('cancels at once when stock is short: nothing was reserved', () => {
    const { state, sent } = run(reply('stock.reservation-failed', 'OUT_OF_STOCK'));
    expect(state).toMatchObject({ status: 'CANCELLED', cancellationReason: 'OUT_OF_STOCK' });
    expect(sent).toEqual(['stock.reserve', 'order.cancelled']);
  });

  it('releases the stock after a decline, and only then cancels', () => {
    const declined = run(reply('stock.reserved'), reply('payment.authorization-failed', 'DECLINED'));
    expect(declined.state).toEqual(at('RELEASING_STOCK', 'PAYMENT_DECLINED'));
    expect(declined.sent.at(-1)).toBe('stock.release');
    const done = decide(declined.state, reply('stock.released'), order);
    expect(done.state).toMatchObject({ status: 'CANCELLED', cancellationReason: 'PAYMENT_DECLINED' });
    expect(done.messages.map((m) => m.type)).toEqual(['order.cancelled']);
  });

  it('voids, then releases, when the provider is unavailable (an authorization may exist)', () => {
    const { state, sent } = run(
      reply('stock.reserved'),
      reply('payment.authorization-failed', 'UNAVAILABLE'),
      reply('payment.voided'),
      reply('stock.released'),
    );
    expect(state).toMatchObject({ status: 'CANCELLED', cancellationReason: 'PAYMENT_UNAVAILABLE' });
    expect(sent.slice(2)).toEqual(['payment.void', 'stock.release', 'order.cancelled']);
  });

  it.each([
    ['RESERVING_STOCK', ['stock.release']],
    ['AUTHORIZING_PAYMENT', ['payment.void']],
    ['CAPTURING_PAYMENT', ['payment.refund']],
  ] as const)('undoes a %s whose reply never came, since its effect may have happened', (step, first) => {
    const decision = decide(at(step), { kind: 'deadline' }, order);
    expect(decision.state).toEqual(at(decision.state.step, 'TIMEOUT'));
    expect(decision.messages.map((m) => m.type)).toEqual(first);
  });

  it('sends a compensation again when its reply is late, and never gives up on it', () => {
    for (const step of ['VOIDING_PAYMENT', 'REFUNDING_PAYMENT', 'RELEASING_STOCK'] as const) {
      const decision = decide(at(step, 'TIMEOUT'), { kind: 'deadline' }, order);
      expect(decision.state).toEqual(at(step, 'TIMEOUT'));
      expect(decision.messages).toHaveLength(1);
      expect(decision.restartDeadline).toBe(true);
    }
  });

  it('refunds then releases when a capture fails', () => {
    const { state, sent } = run(
      reply('stock.reserved'),
      reply('payment.authorized'),
      reply('payment.capture-failed', 'UNAVAILABLE'),
      reply('payment.refunded'),
      reply('stock.released'),
    );
    expect(state).toMatchObject({ status: 'CANCELLED', cancellationReason: 'PAYMENT_UNAVAILABLE' });
    expect(sent.slice(3)).toEqual(['payment.refund', 'stock.release', 'order.cancelled']);
  });

  it('ignores late and repeated replies', () => {
    const compensating = at('VOIDING_PAYMENT', 'TIMEOUT');
    expect(decide(compensating, reply('payment.authorized'), order).messages).toEqual([]);
    expect(decide(at('AUTHORIZING_PAYMENT'), reply('stock.reserved'), order).messages).toEqual([]);
    const done = { step: 'DONE', status: 'CONFIRMED', cancellationReason: null } as const;
    expect(decide(done, { kind: 'deadline' }, order).messages).toEqual([]);
  });

  it('cancels for a deleted user through the compensations of the step in progress', () => {
    const decision = decide(at('CAPTURING_PAYMENT'), { kind: 'cancel', reason: 'USER_DELETED' }, order);
    expect(decision.state).toEqual(at('REFUNDING_PAYMENT', 'USER_DELETED'));
    const ongoing = at('RELEASING_STOCK', 'TIMEOUT');
    expect(decide(ongoing, { kind: 'cancel', reason: 'USER_DELETED' }, order).state).toEqual(ongoing);
  });
});
