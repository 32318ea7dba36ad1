// Every order the API accepts becomes messages the contract accepts (or a
// clear 422), never a command that fails validation as the order is written:
// that was a 500 (lines of one product merged above the per-line bound).
import { messageData, orderLimits, paymentToken } from '@shop/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CatalogProduct, newOrder, priceBasket } from '../src/domain/order.js';
import type { Outgoing } from '../src/saga/engine.js';
import { orderCreated, orderSaga } from '../src/saga/steps.js';

// Prices as inventory's product schema allows them (services/inventory/src/routes/products.ts).
const price = fc.integer({ min: 1, max: 100_000_000 });

/** A catalogue of a few products, so that orders repeat products and lines get merged. */
const catalogue = fc.uniqueArray(
  fc.record({ id: fc.uuid(), priceCents: price, currency: fc.constantFrom('EUR', 'USD') }),
  { minLength: 1, maxLength: 4, selector: (product) => product.id },
);

const apiOrder = (products: CatalogProduct[]) =>
  fc.record({
    items: fc.array(
      fc.record({
        productId: fc.constantFrom(...products.map((product) => product.id)),
        quantity: fc.oneof(
          fc.constant(orderLimits.quantityPerLine),
          fc.integer({ min: 1, max: orderLimits.quantityPerLine }),
        ),
      }),
      { minLength: 1, maxLength: orderLimits.lines },
    ),
    // Any characters, astral ones included: the bound is in characters, as the schema says.
    payment: fc.record({
      token: fc
        .string({ unit: 'binary', minLength: 1, maxLength: 200 })
        .filter((token) => paymentToken.safeParse(token).success),
    }),
  });

function expectValid(messages: Outgoing[]): void {
  for (const message of messages) {
    const parsed = messageData[message.type].safeParse(message.data);
    expect(parsed.success, `${message.type}: ${parsed.error?.message}`).toBe(true);
  }
}

describe('an order the API accepts', () => {
  it('becomes an order.created, a stock.reserve and a payment.authorize the contract accepts, or a 422', () => {
    fc.assert(
      fc.property(
        catalogue.chain((products) => fc.tuple(fc.constant(products), apiOrder(products))),
        fc.uuid(),
        fc.uuid(),
        ([products, input], orderId, userId) => {
          expect(newOrder.safeParse(input).success).toBe(true);
          const priced = priceBasket(input.items, products);
          if (!priced.ok) {
            expect(['mixed-currencies', 'total-too-large']).toContain(priced.problem);
            if (priced.problem === 'total-too-large') {
              expect(priced.totalCents).toBeGreaterThan(orderLimits.amountCents);
            }
            return;
          }
          const order = {
            orderId,
            userId,
            items: priced.items,
            totalCents: priced.totalCents,
            currency: priced.currency,
            paymentToken: input.payment.token,
            shippingAddress: null,
          };
          const first = orderSaga.start(order);
          expectValid([orderCreated(order), ...first.messages]);
          const reserved = orderSaga.decide(
            first.state,
            { kind: 'reply', type: 'stock.reserved', data: {} },
            order,
          );
          expect(reserved.messages.map((message) => message.type)).toEqual(['payment.authorize']);
          expectValid(reserved.messages);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('merges repeated lines of one product beyond the per-line bound, and the contract takes them', () => {
    const product = { id: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d', priceCents: 1, currency: 'EUR' };
    const items = Array.from({ length: orderLimits.lines }, () => ({
      productId: product.id,
      quantity: orderLimits.quantityPerLine,
    }));
    const priced = priceBasket(items, [product]);
    expect(priced.ok && priced.items).toEqual([
      { productId: product.id, quantity: orderLimits.lines * orderLimits.quantityPerLine, unitPriceCents: 1 },
    ]);
  });

  it('is refused with total-too-large when its total exceeds the largest amount', () => {
    const product = { id: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d', priceCents: 100_000_000, currency: 'EUR' };
    const priced = priceBasket([{ productId: product.id, quantity: 1000 }], [product]);
    expect(priced).toEqual({ ok: false, problem: 'total-too-large', totalCents: 100_000_000_000 });
  });
});
