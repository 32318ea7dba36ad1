import { cancellationReason } from '@shop/contracts';
import { describe, expect, it } from 'vitest';
import {
  cancellationSentences,
  displayName,
  formatMoney,
  orderReference,
  renderEmail,
} from '../src/domain/email.js';

const userId = '00000000-0000-4000-8000-0000000000aa';
const orderId = '1f2e3d4c-0000-4000-8000-0000000000bb';

describe('renderEmail', () => {
  it('welcomes a new user by the name they registered with', () => {
    const email = renderEmail({
      type: 'user.registered',
      data: { userId, email: 'ada@example.com', name: 'Ada Lovelace', role: 'customer' },
    });
    expect(email.subject).toBe('Welcome to shop');
    expect(email.body).toMatch(/^Hi Ada Lovelace,\n\nWelcome to shop!/);
    expect(email.body).toMatch(/The shop team$/);
  });

  it('says goodbye when the account is deleted, by name when it is known', () => {
    const named = renderEmail({ type: 'user.deleted', data: { userId } }, 'Ada');
    expect(named.subject).toBe('Your shop account has been deleted');
    expect(named.body).toMatch(/^Hi Ada,/);
    expect(named.body).toContain('sorry to see you go');
    expect(renderEmail({ type: 'user.deleted', data: { userId } }).body).toMatch(/^Hello,\n\n/);
  });

  it('confirms an order with its total in the order currency', () => {
    const email = renderEmail(
      { type: 'order.confirmed', data: { orderId, userId, totalCents: 129_950, currency: 'EUR' } },
      'Ada',
    );
    expect(email.subject).toBe('Your order 1F2E3D4C is confirmed');
    expect(email.body).toContain(`Order: ${orderId}\nTotal: €1,299.50`);
  });

  it.each(Object.entries(cancellationSentences))('explains a cancellation for %s', (reason, sentence) => {
    const email = renderEmail({
      type: 'order.cancelled',
      data: { orderId, userId, reason: reason as keyof typeof cancellationSentences },
    });
    expect(email.subject).toBe('Your order 1F2E3D4C has been cancelled');
    expect(email.body).toContain(`your order ${orderId} has been cancelled. ${sentence}`);
  });

  it('has a distinct, complete sentence for every cancellation reason', () => {
    const sentences = Object.values(cancellationSentences);
    expect(Object.keys(cancellationSentences).sort()).toEqual([...cancellationReason.options].sort());
    expect(new Set(sentences).size).toBe(sentences.length);
    for (const sentence of sentences) expect(sentence).toMatch(/^[A-Z].*\.$/);
  });

  it('gives the carrier and tracking number of a confirmed order that ships', () => {
    const email = renderEmail({
      type: 'order.confirmed',
      data: {
        orderId,
        userId,
        totalCents: 100,
        currency: 'EUR',
        shipment: { carrier: 'UPS', trackingId: 'UPS123' },
      },
    });
    expect(email.body).toContain('It ships with UPS: follow it with the tracking number UPS123.');
    const v1 = renderEmail({
      type: 'order.confirmed',
      data: { orderId, userId, totalCents: 100, currency: 'EUR' },
    });
    expect(v1.body).not.toContain('tracking');
  });

  it('cannot be reshaped by a crafted name', () => {
    const email = renderEmail({
      type: 'user.registered',
      data: { userId, email: 'x@example.com', name: 'Eve\r\nBcc: all@example.com\u202e', role: 'customer' },
    });
    expect(email.body.split('\n')[0]).toBe('Hi Eve Bcc: all@example.com,');
    expect(email.subject).not.toContain('Eve');
  });
});

describe('displayName', () => {
  it('collapses whitespace and control characters, and caps the length', () => {
    expect(displayName('  Ada \t Lovelace ')).toBe('Ada Lovelace');
    expect(displayName('a\u0000b')).toBe('a b');
    expect(displayName('x'.repeat(200))).toHaveLength(80);
  });

  it('is undefined when nothing printable is left', () => {
    expect(displayName(undefined)).toBeUndefined();
    expect(displayName('')).toBeUndefined();
    expect(displayName(' \n\u200b ')).toBeUndefined();
  });
});

describe('formatMoney', () => {
  it('reads amounts as minor units of the currency', () => {
    expect(formatMoney(1299, 'EUR')).toBe('€12.99');
    expect(formatMoney(0, 'USD')).toBe('$0.00');
    expect(formatMoney(5, 'GBP')).toBe('£0.05');
    expect(formatMoney(1299, 'JPY')).toBe('¥1,299');
  });
});

describe('orderReference', () => {
  it('is the start of the order id', () => {
    expect(orderReference(orderId)).toBe('1F2E3D4C');
  });
});
