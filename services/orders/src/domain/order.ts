// Pricing a basket and the shape of an order to clients: pure functions.
import { createHash } from 'node:crypto';
import { cancellationReason, orderLimits, paymentToken, shippingAddress } from '@shop/contracts';
import { z } from 'zod';

// Bounded by the order contract (packages/contracts), so every order the API takes
// becomes messages the contract accepts (test/order-contract.test.ts proves it).
export const orderLine = z.object({
  productId: z.uuid(),
  quantity: z.int().min(1).max(orderLimits.quantityPerLine),
});
export const newOrder = z.object({
  items: z.array(orderLine).min(1).max(orderLimits.lines),
  payment: z.object({ token: paymentToken }),
});
export type NewOrder = z.infer<typeof newOrder>;

/** /api/v2: an order ships, so it names where to. */
export const newOrderV2 = newOrder.extend({ shippingAddress });
export type NewOrderV2 = z.infer<typeof newOrderV2>;

export const orderView = z.object({
  id: z.uuid(),
  userId: z.uuid(),
  status: z.enum(['PENDING', 'CONFIRMED', 'CANCELLED']),
  // Lines of one product are merged, so a line may hold more than one request line's bound.
  items: z.array(z.object({ productId: z.uuid(), quantity: z.int().positive(), unitPriceCents: z.int() })),
  totalCents: z.int(),
  currency: z.string(),
  cancellationReason: cancellationReason.nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

/** /api/v2's view: v1's fields, where the order goes and its shipment. */
export const orderViewV2 = orderView.extend({
  shippingAddress: shippingAddress.nullable(),
  shipment: z
    .object({ status: z.enum(['SCHEDULED', 'CANCELLED']), carrier: z.string(), trackingId: z.string() })
    .nullable(),
});
/** An order as the store reads it: every field of v2 (v1's schema keeps its own). */
export type OrderView = z.infer<typeof orderViewV2>;

export interface CatalogProduct {
  id: string;
  priceCents: number;
  currency: string;
}

export type Pricing =
  | {
      ok: true;
      items: { productId: string; quantity: number; unitPriceCents: number }[];
      totalCents: number;
      currency: string;
    }
  | { ok: false; problem: 'unknown-products'; productIds: string[] }
  | { ok: false; problem: 'mixed-currencies'; currencies: string[] }
  | { ok: false; problem: 'total-too-large'; totalCents: number };

/** Prices each line at today's catalogue price; repeated products are merged into one line. */
export function priceBasket(lines: NewOrder['items'], catalogue: CatalogProduct[]): Pricing {
  const quantities = new Map<string, number>();
  for (const line of lines)
    quantities.set(line.productId, (quantities.get(line.productId) ?? 0) + line.quantity);
  const byId = new Map(catalogue.map((product) => [product.id, product]));
  const unknown = [...quantities.keys()].filter((id) => !byId.has(id));
  if (unknown.length > 0) return { ok: false, problem: 'unknown-products', productIds: unknown };
  const currencies = [...new Set([...quantities.keys()].map((id) => byId.get(id)!.currency))];
  if (currencies.length > 1) return { ok: false, problem: 'mixed-currencies', currencies };
  const items = [...quantities].map(([productId, quantity]) => ({
    productId,
    quantity,
    unitPriceCents: byId.get(productId)!.priceCents,
  }));
  const totalCents = items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);
  if (totalCents > orderLimits.amountCents) return { ok: false, problem: 'total-too-large', totalCents };
  return { ok: true, items, totalCents, currency: currencies[0]! };
}

/** A fingerprint of a request body that ignores key order, for Idempotency-Key comparisons. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
