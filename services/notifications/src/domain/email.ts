// The text of every e-mail this service sends: a pure function of the event and
// what is known about the recipient, so each wording is unit-tested without I/O.
import type { cancellationReason, MessageData } from '@shop/contracts';
import type { z } from 'zod';

/** The events a customer is told about, which is also the `type` of their notification. */
export const notifiedTypes = [
  'user.registered',
  'user.deleted',
  'order.confirmed',
  'order.cancelled',
] as const;
export type NotifiedType = (typeof notifiedTypes)[number];

export type NotifiedEvent = { [T in NotifiedType]: { type: T; data: MessageData<T> } }[NotifiedType];
export type CancellationReason = z.infer<typeof cancellationReason>;

export interface Email {
  subject: string;
  body: string;
}

const SIGNATURE = 'The shop team';

/** One sentence per reason, in the customer's terms (a new reason fails to compile until it has one). */
export const cancellationSentences = {
  OUT_OF_STOCK: 'Some of the items in it are out of stock, so we could not set them aside for you.',
  PAYMENT_DECLINED:
    'Your payment was declined, so nothing was charged. You are welcome to order again with another card.',
  PAYMENT_UNAVAILABLE:
    'We could not reach our payment provider to take your payment, so nothing was charged. Please try again in a little while.',
  SHIPPING_UNAVAILABLE:
    'We cannot ship to the address you gave, so nothing was charged. You are welcome to order again with another address.',
  TIMEOUT:
    'We could not complete it in time, so we stopped it. Any amount held on your card will be released.',
  USER_DELETED: 'Your account was deleted, so the orders still in progress were cancelled with it.',
} as const satisfies Record<CancellationReason, string>;

/**
 * A name fit for a greeting: control and format characters become spaces, runs of
 * space collapse, and it is capped, so a crafted name cannot reshape the mail.
 * Undefined when nothing printable is left.
 */
export function displayName(name: string | undefined): string | undefined {
  const clean = name
    ?.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!clean) return undefined;
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}

// Building an Intl.NumberFormat is costly (it was a notable share of this service's CPU); one per currency is kept.
const moneyFormats = new Map<string, { format: Intl.NumberFormat; digits: number }>();

/** An amount in the currency's minor units (ISO 4217: cents for EUR, whole yen for JPY), for people. */
export function formatMoney(minorUnits: number, currency: string): string {
  let money = moneyFormats.get(currency);
  if (!money) {
    const format = new Intl.NumberFormat('en', { style: 'currency', currency });
    money = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
    if (moneyFormats.size < 200) moneyFormats.set(currency, money);
  }
  return money.format.format(minorUnits / 10 ** money.digits);
}

/** How an order is named in a subject line: the start of its id, enough to tell orders apart. */
export function orderReference(orderId: string): string {
  return orderId.slice(0, 8).toUpperCase();
}

function letter(name: string | undefined, ...paragraphs: string[]): string {
  const greeting = name ? `Hi ${name},` : 'Hello,';
  return [greeting, ...paragraphs, SIGNATURE].join('\n\n');
}

/**
 * The e-mail for an event. `recipientName` is the name the user registered with, when
 * known; the welcome mail takes it from its own event.
 */
export function renderEmail(event: NotifiedEvent, recipientName?: string): Email {
  switch (event.type) {
    case 'user.registered':
      return {
        subject: 'Welcome to shop',
        body: letter(
          displayName(event.data.name),
          'Welcome to shop! Your account is ready: browse the catalogue and place your first order whenever you like.',
        ),
      };
    case 'user.deleted':
      return {
        subject: 'Your shop account has been deleted',
        body: letter(
          displayName(recipientName),
          'Your shop account has been deleted, together with the personal details we held. ' +
            'Orders that were still in progress are cancelled.',
          'We are sorry to see you go. You are welcome back any time.',
        ),
      };
    case 'order.confirmed': {
      const total = formatMoney(event.data.totalCents, event.data.currency);
      return {
        subject: `Your order ${orderReference(event.data.orderId)} is confirmed`,
        body: letter(
          displayName(recipientName),
          `Thank you for your order. It is confirmed, and we are getting it ready.`,
          `Order: ${event.data.orderId}\nTotal: ${total}`,
          ...(event.data.shipment
            ? [
                `It ships with ${event.data.shipment.carrier}: follow it with the tracking number ${event.data.shipment.trackingId}.`,
              ]
            : []),
        ),
      };
    }
    case 'order.cancelled':
      return {
        subject: `Your order ${orderReference(event.data.orderId)} has been cancelled`,
        body: letter(
          displayName(recipientName),
          `We are sorry: your order ${event.data.orderId} has been cancelled. ${cancellationSentences[event.data.reason]}`,
        ),
      };
  }
}
