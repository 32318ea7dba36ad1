// The order rows on the pipeline's hot path, in SQL on the service's pool:
// placing an order (its idempotency key, the order, its items and its first
// messages in one statement, so one round trip and one commit) and reading one
// order as its client view. The list of a user's orders stays on Prisma.
import type { Message, ShippingAddress } from '@shop/contracts';
import { type Database, enqueueStatement } from '@shop/platform';
import type { OrderView } from './domain/order.js';

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const itemsJson = (from: string) =>
  `(SELECT coalesce(json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
                                              'unitPriceCents', i.unit_price_cents) ORDER BY i.product_id), '[]')
      FROM ${from})`;

/**
 * The client view of the order `o` (times as ISO 8601 in UTC, like Date#toISOString), built by
 * Postgres: every field of /api/v2, of which /api/v1's schema keeps its own.
 */
const view = (items: string) => `json_build_object(
    'id', o.id, 'userId', o.user_id, 'status', o.status, 'items', ${items},
    'totalCents', o.total_cents, 'currency', rtrim(o.currency), 'cancellationReason', o.cancellation_reason,
    'createdAt', ${iso('o.created_at')}, 'updatedAt', ${iso('o.updated_at')},
    'shippingAddress', o.shipping_address, 'shipment', o.shipment)`;
const VIEW = view(itemsJson('order_items i WHERE i.order_id = o.id'));

export interface PlacedOrder {
  id: string;
  userId: string;
  idempotencyKey: string;
  requestHash: string;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  currency: string;
  paymentToken: string;
  /** The saga's first step (the table's first that runs for the order) and its deadline. */
  sagaStep: string;
  stepDeadlineMs: number;
  traceparent: string | null;
  shippingAddress: ShippingAddress | null;
}

const outbox = enqueueStatement(15);

const PLACE = {
  name: 'orders-place',
  text: `WITH key AS (
           INSERT INTO idempotency_keys (user_id, key, request_hash, order_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING order_id),
         o AS (
           INSERT INTO orders (id, user_id, status, saga_step, total_cents, currency, payment_token,
                               step_deadline, traceparent, shipping_address, updated_at)
           SELECT order_id, $1, 'PENDING', $13::saga_step, $5, $6, $7, to_timestamp($8::float8 / 1000), $9, $14::jsonb, now()
             FROM key RETURNING *),
         items AS (
           INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
           SELECT o.id, i.* FROM o, unnest($10::uuid[], $11::int[], $12::int[]) AS i),
         messages AS (${outbox.insert({ from: 'o' })})
         -- The items just inserted are not visible to this statement: the view takes them from the parameters.
         SELECT ${view(itemsJson('unnest($10::uuid[], $11::int[], $12::int[]) AS i(product_id, quantity, unit_price_cents)'))} AS view
           FROM o`,
};

/**
 * Places the order with its first messages, in one statement: the Idempotency-Key row first, so a
 * key seen before (or being used at this moment by a concurrent request, which this waits for)
 * inserts nothing. Returns the new order's view, or undefined when the key was taken.
 */
export async function placeOrder(
  db: Database,
  order: PlacedOrder,
  messages: Message[],
): Promise<OrderView | undefined> {
  const { rows } = await db.query<{ view: OrderView }>({
    ...PLACE,
    values: [
      order.userId,
      order.idempotencyKey,
      order.requestHash,
      order.id,
      order.totalCents,
      order.currency,
      order.paymentToken,
      order.stepDeadlineMs,
      order.traceparent,
      order.items.map((i) => i.productId),
      order.items.map((i) => i.quantity),
      order.items.map((i) => i.unitPriceCents),
      order.sagaStep,
      order.shippingAddress ? JSON.stringify(order.shippingAddress) : null,
      ...outbox.values(messages),
    ],
  });
  return rows[0]?.view;
}

/** The order a user's Idempotency-Key placed, with the hash of the request that placed it. */
export async function findByIdempotencyKey(
  db: Database,
  userId: string,
  key: string,
): Promise<{ requestHash: string; order: OrderView } | undefined> {
  const { rows } = await db.query<{ request_hash: string; view: OrderView }>({
    name: 'orders-by-idempotency-key',
    text: `SELECT k.request_hash, ${VIEW} AS view
             FROM idempotency_keys k JOIN orders o ON o.id = k.order_id
            WHERE k.user_id = $1 AND k.key = $2`,
    values: [userId, key],
  });
  const row = rows[0];
  return row && { requestHash: row.request_hash, order: row.view };
}

/** One order's view, or undefined. */
export async function findOrder(db: Database, id: string): Promise<OrderView | undefined> {
  const { rows } = await db.query<{ view: OrderView }>({
    name: 'orders-view',
    text: `SELECT ${VIEW} AS view FROM orders o WHERE o.id = $1`,
    values: [id],
  });
  return rows[0]?.view;
}
