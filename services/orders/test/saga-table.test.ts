// The order saga's table run by the engine: every path, forward and back,
// including compensation from every step, for orders with and without an
// address; and what is derived from the table (states, replies, deadlines).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageType } from '@shop/contracts';
import { describe, expect, it } from 'vitest';
import { DONE, type SagaInput, type SagaState } from '../src/saga/engine.js';
import { type CancellationReason, deadlineVariables, type OrderFacts, orderSaga } from '../src/saga/steps.js';

const v1: OrderFacts = {
  orderId: '0b5f7c1e-2f1e-4c8e-9a57-3d1f0e6c2a11',
  userId: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d',
  items: [{ productId: '9c3e4b1a-7d2f-4e6b-8a1c-5f0d2e3b4a6c', quantity: 2 }],
  totalCents: 2598,
  currency: 'EUR',
  paymentToken: 'tok_visa',
  shippingAddress: null,
};
const v2: OrderFacts = {
  ...v1,
  shippingAddress: {
    name: 'Ada',
    line1: '1 Rue de la Paix',
    city: 'Paris',
    postalCode: '75002',
    country: 'FR',
  },
};

type Input = SagaInput<CancellationReason>;
const reply = (type: MessageType, data: Record<string, unknown> = {}): Input => ({
  kind: 'reply',
  type,
  data,
});
const deadline: Input = { kind: 'deadline' };
const cancel: Input = { kind: 'cancel', reason: 'USER_DELETED' };
const scheduled = reply('shipment.scheduled', { carrier: 'DHL', trackingId: 'SHP-1' });

/** Runs inputs from the start; returns the final state, the states passed through and every message type sent. */
function run(facts: OrderFacts, ...inputs: Input[]) {
  const first = orderSaga.start(facts);
  let state: SagaState<CancellationReason> = first.state;
  let recorded: Record<string, unknown> = {};
  const path = [state.step];
  const sent: string[] = first.messages.map((m) => m.type);
  const messages = [...first.messages];
  for (const input of inputs) {
    const decision = orderSaga.decide(state, input, facts, recorded);
    recorded = { ...recorded, ...decision.records };
    if (decision.state.step !== state.step) path.push(decision.state.step);
    state = decision.state;
    sent.push(...decision.messages.map((m) => m.type));
    messages.push(...decision.messages);
  }
  return { state, path, sent, messages, recorded };
}

const cancelled = (reason: CancellationReason) => ({
  step: DONE,
  status: 'CANCELLED',
  cancellationReason: reason,
});

describe('the order saga, forward', () => {
  it('confirms a v1 order after reserve, authorize and capture, skipping shipping, and commits the stock', () => {
    const { state, path, sent } = run(
      v1,
      reply('stock.reserved'),
      reply('payment.authorized'),
      reply('payment.captured'),
    );
    expect(state).toEqual({ step: DONE, status: 'CONFIRMED', cancellationReason: null });
    expect(path).toEqual(['RESERVING_STOCK', 'AUTHORIZING_PAYMENT', 'CAPTURING_PAYMENT', DONE]);
    expect(sent).toEqual([
      'stock.reserve',
      'payment.authorize',
      'payment.capture',
      'stock.commit',
      'order.confirmed',
    ]);
  });

  it('schedules the shipment of a v2 order before the capture, and confirms it with its tracking id', () => {
    const { state, path, sent, messages, recorded } = run(
      v2,
      reply('stock.reserved'),
      reply('payment.authorized'),
      scheduled,
      reply('payment.captured'),
    );
    expect(state.status).toBe('CONFIRMED');
    expect(path).toEqual([
      'RESERVING_STOCK',
      'AUTHORIZING_PAYMENT',
      'SCHEDULING_SHIPMENT',
      'CAPTURING_PAYMENT',
      DONE,
    ]);
    expect(sent).toEqual([
      'stock.reserve',
      'payment.authorize',
      'shipment.schedule',
      'payment.capture',
      'stock.commit',
      'order.confirmed',
    ]);
    expect(messages.find((m) => m.type === 'shipment.schedule')?.data).toEqual({
      orderId: v2.orderId,
      address: v2.shippingAddress,
    });
    expect(messages.at(-1)?.data).toMatchObject({ shipment: { carrier: 'DHL', trackingId: 'SHP-1' } });
    expect(recorded.shipment).toEqual({ status: 'SCHEDULED', carrier: 'DHL', trackingId: 'SHP-1' });
  });

  it('ignores replies that are late, repeated or out of turn, and anything once done', () => {
    const { state, sent } = run(
      v2,
      reply('stock.reserved'),
      reply('stock.reserved'),
      reply('payment.captured'),
      scheduled,
    );
    expect(state.step).toBe('AUTHORIZING_PAYMENT');
    expect(sent).toEqual(['stock.reserve', 'payment.authorize']);
    const done = { step: DONE, status: 'CONFIRMED', cancellationReason: null } as const;
    for (const input of [reply('payment.captured'), deadline, cancel])
      expect(orderSaga.decide(done, input, v2)).toEqual({
        state: done,
        messages: [],
        restartDeadline: false,
        records: {},
      });
  });
});

describe('the order saga, compensating from every step (a v2 order)', () => {
  const toReserve: Input[] = [];
  const toAuthorize = [reply('stock.reserved')];
  const toSchedule = [...toAuthorize, reply('payment.authorized')];
  const toCapture = [...toSchedule, scheduled];
  const release = reply('stock.released');
  const voided = reply('payment.voided');
  const shipmentCancelled = reply('shipment.cancelled');

  it.each([
    // step failed or timed out, how, the acknowledgments, the compensations sent, the reason
    [
      'RESERVING_STOCK refused',
      [...toReserve, reply('stock.reservation-failed', { reason: 'OUT_OF_STOCK' })],
      [],
      [],
      'OUT_OF_STOCK',
    ],
    ['RESERVING_STOCK overdue', [...toReserve, deadline], [release], ['stock.release'], 'TIMEOUT'],
    ['RESERVING_STOCK cancelled', [...toReserve, cancel], [release], ['stock.release'], 'USER_DELETED'],
    [
      'AUTHORIZING_PAYMENT declined',
      [...toAuthorize, reply('payment.authorization-failed', { reason: 'DECLINED' })],
      [release],
      ['stock.release'],
      'PAYMENT_DECLINED',
    ],
    [
      'AUTHORIZING_PAYMENT unavailable',
      [...toAuthorize, reply('payment.authorization-failed', { reason: 'UNAVAILABLE' })],
      [voided, release],
      ['payment.void', 'stock.release'],
      'PAYMENT_UNAVAILABLE',
    ],
    [
      'AUTHORIZING_PAYMENT overdue',
      [...toAuthorize, deadline],
      [voided, release],
      ['payment.void', 'stock.release'],
      'TIMEOUT',
    ],
    [
      'SCHEDULING_SHIPMENT refused',
      [...toSchedule, reply('shipment.scheduling-failed', { reason: 'SHIPPING_UNAVAILABLE' })],
      [voided, release],
      ['payment.void', 'stock.release'],
      'SHIPPING_UNAVAILABLE',
    ],
    [
      'SCHEDULING_SHIPMENT overdue',
      [...toSchedule, deadline],
      [shipmentCancelled, voided, release],
      ['shipment.cancel', 'payment.void', 'stock.release'],
      'TIMEOUT',
    ],
    [
      'CAPTURING_PAYMENT declined',
      [...toCapture, reply('payment.capture-failed', { reason: 'DECLINED' })],
      [shipmentCancelled, reply('payment.refunded'), release],
      ['shipment.cancel', 'payment.void', 'stock.release'],
      'PAYMENT_DECLINED',
    ],
    [
      'CAPTURING_PAYMENT unavailable',
      [...toCapture, reply('payment.capture-failed', { reason: 'UNAVAILABLE' })],
      [shipmentCancelled, voided, release],
      ['shipment.cancel', 'payment.void', 'stock.release'],
      'PAYMENT_UNAVAILABLE',
    ],
    [
      'CAPTURING_PAYMENT overdue',
      [...toCapture, deadline],
      [shipmentCancelled, voided, release],
      ['shipment.cancel', 'payment.void', 'stock.release'],
      'TIMEOUT',
    ],
    [
      'CAPTURING_PAYMENT cancelled',
      [...toCapture, cancel],
      [shipmentCancelled, voided, release],
      ['shipment.cancel', 'payment.void', 'stock.release'],
      'USER_DELETED',
    ],
  ] as [string, Input[], Input[], string[], CancellationReason][])(
    '%s: compensates in reverse, then cancels',
    (_name, toFailure, acknowledgments, compensations, reason) => {
      const forward = run(v2, ...toFailure.slice(0, -1)).sent.length;
      const before = run(v2, ...toFailure);
      const after = run(v2, ...toFailure, ...acknowledgments);
      expect(after.state).toEqual(cancelled(reason));
      expect(after.sent.slice(forward, -1)).toEqual(compensations);
      expect(after.sent.at(-1)).toBe('order.cancelled');
      // Nothing is cancelled before the last compensation is acknowledged.
      if (acknowledgments.length > 0) expect(before.state.status).toBe('PENDING');
    },
  );

  it('a v1 order, whose capture failed, only releases the payment and the stock', () => {
    const { state, sent } = run(
      v1,
      reply('stock.reserved'),
      reply('payment.authorized'),
      reply('payment.capture-failed', { reason: 'UNAVAILABLE' }),
      reply('payment.refunded'),
      reply('stock.released'),
    );
    expect(state).toEqual(cancelled('PAYMENT_UNAVAILABLE'));
    expect(sent.slice(3)).toEqual(['payment.void', 'stock.release', 'order.cancelled']);
  });

  it('re-sends an overdue compensation, ignores a cancellation and other replies while compensating', () => {
    const compensating = run(v2, ...toCapture, deadline).state;
    expect(compensating.step).toBe('CANCELLING_SHIPMENT');
    const again = orderSaga.decide(compensating, deadline, v2);
    expect(again.state).toEqual(compensating);
    expect(again.messages.map((m) => m.type)).toEqual(['shipment.cancel']);
    expect(again.restartDeadline).toBe(true);
    for (const input of [cancel, reply('payment.voided'), reply('stock.released')])
      expect(orderSaga.decide(compensating, input, v2).messages).toEqual([]);
  });

  it('records the shipment as cancelled once its cancellation is acknowledged', () => {
    const { recorded } = run(v2, ...toCapture, deadline, shipmentCancelled);
    expect(recorded.shipment).toEqual({ status: 'CANCELLED', carrier: 'DHL', trackingId: 'SHP-1' });
  });
});

describe('what is derived from the table', () => {
  it('the states are exactly the database enum saga_step', () => {
    const schema = readFileSync(join(import.meta.dirname, '../prisma/schema/schema.prisma'), 'utf8');
    const block = /enum SagaStep \{([^}]*)\}/.exec(schema)![1]!;
    const values = block
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^[A-Z_]+$/.test(line));
    expect(values.sort()).toEqual([...orderSaga.states].sort());
  });

  it('the replies the consumer acts on are every success, failure and acknowledgment of the table', () => {
    expect([...orderSaga.replyTypes].sort()).toEqual(
      [
        'payment.authorization-failed',
        'payment.authorized',
        'payment.capture-failed',
        'payment.captured',
        'payment.refunded',
        'payment.voided',
        'shipment.cancelled',
        'shipment.scheduled',
        'shipment.scheduling-failed',
        'stock.released',
        'stock.reservation-failed',
        'stock.reserved',
      ].sort(),
    );
  });

  it('every forward step has its deadline variable, and compensations the backoff', () => {
    expect(deadlineVariables).toEqual([
      'SAGA_RESERVE_TIMEOUT',
      'SAGA_AUTHORIZE_TIMEOUT',
      'SAGA_SCHEDULE_TIMEOUT',
      'SAGA_CAPTURE_TIMEOUT',
    ]);
    expect(orderSaga.deadlineOf('SCHEDULING_SHIPMENT')).toBe('SAGA_SCHEDULE_TIMEOUT');
    expect(orderSaga.deadlineOf('CANCELLING_SHIPMENT')).toBe('compensation');
    expect(orderSaga.deadlineOf(DONE)).toBeNull();
  });
});
