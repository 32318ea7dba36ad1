import { describe, expect, it } from 'vitest';
import { buildMessage, messageTypes, parseMessage, topicOf, topics } from '../src/index.js';

const orderId = '0b5f7c1e-2f1e-4c8e-9a57-3d1f0e6c2a11';
const userId = '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d';

describe('messages', () => {
  it('round-trips a message through JSON', () => {
    const message = buildMessage(
      'order.confirmed',
      orderId,
      { orderId, userId, totalCents: 1299, currency: 'EUR' },
      {
        source: 'orders',
      },
    );
    const parsed = parseMessage(JSON.stringify(message));
    expect(parsed).toEqual({ ok: true, message });
  });

  it('refuses to build a message whose data does not match its schema', () => {
    expect(() =>
      buildMessage(
        'order.confirmed',
        orderId,
        { orderId, userId, totalCents: -1, currency: 'EUR' },
        { source: 'orders' },
      ),
    ).toThrow();
  });

  it.each([
    [null, 'no value'],
    ['not json', 'not JSON'],
    [JSON.stringify({ hello: 'world' }), 'invalid envelope'],
    [JSON.stringify({ version: 2 }), 'unsupported envelope version 2'],
  ])('rejects %s with a reason', (raw, reason) => {
    const parsed = parseMessage(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(reason);
  });

  it('rejects an unknown type and invalid data with the type named', () => {
    const valid = buildMessage('stock.released', orderId, { orderId }, { source: 'inventory' });
    const unknown = parseMessage(JSON.stringify({ ...valid, type: 'stock.vanished' }));
    expect(unknown).toEqual({ ok: false, reason: 'unknown message type stock.vanished' });
    const badData = parseMessage(JSON.stringify({ ...valid, data: { orderId: 'nope' } }));
    expect(badData.ok).toBe(false);
    if (!badData.ok) expect(badData.reason).toMatch(/^invalid stock.released data/);
  });

  it('routes every message type to exactly one topic', () => {
    for (const type of messageTypes) {
      const carriers = Object.entries(topics).filter(([, types]) =>
        (types as readonly string[]).includes(type),
      );
      expect(carriers.map(([topic]) => topic)).toEqual([topicOf(type)]);
    }
  });
});
