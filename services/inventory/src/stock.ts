// The saga's stock commands (reserve an order's lines all or nothing, release
// them, commit them when the goods leave the shelf), a whole chunk of them in
// the consumer's one transaction: one statement reads and locks what the chunk
// touches, the pure planner (domain/stock-plan.ts) decides, and one statement
// writes every change with the replies to the outbox. Product rows are locked in
// id order in that one read, so two chunks never deadlock, and a product ordered
// by many orders of a chunk is locked and written once. Idempotent through the
// reservation's status: a command handled twice has one effect.
import { buildMessage, type Message } from '@shop/contracts';
import { enqueue, type HandlerContext, type MessageHandling, type Sql } from '@shop/platform';
import type { Line } from './domain/reservation.js';
import {
  planStock,
  productsNamed,
  type ReservationStatus,
  type StockCommand,
  type StockPlan,
  type StockSnapshot,
} from './domain/stock-plan.js';

const STOCK_COMMANDS = ['stock.reserve', 'stock.release', 'stock.commit'] as const;

// The reservations of the chunk's orders (locked), their lines, and every product a command
// names or a reservation holds (locked in id order), as one JSON document.
const READ = {
  name: 'inventory-stock-read',
  text: `WITH r AS (
           SELECT order_id, status FROM reservations WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE),
         l AS (
           SELECT order_id, product_id, quantity FROM reservation_lines
            WHERE order_id IN (SELECT order_id FROM r WHERE status = 'RESERVED')),
         p AS (
           SELECT id, on_hand, reserved FROM products
            WHERE id = ANY($2::uuid[]) OR id IN (SELECT product_id FROM l)
            ORDER BY id FOR UPDATE)
         SELECT (SELECT coalesce(json_agg(json_build_array(order_id, status)), '[]') FROM r) AS reservations,
                (SELECT coalesce(json_agg(json_build_array(order_id, product_id, quantity)), '[]') FROM l) AS lines,
                (SELECT coalesce(json_agg(json_build_array(id, on_hand, reserved)), '[]') FROM p) AS products`,
};

// Every change of the plan in one statement.
const WRITE = {
  name: 'inventory-stock-write',
  text: `WITH stock AS (
           UPDATE products p SET reserved = p.reserved + d.reserved, on_hand = p.on_hand + d.on_hand, updated_at = now()
             FROM unnest($1::uuid[], $2::int[], $3::int[]) AS d(id, reserved, on_hand)
            WHERE p.id = d.id),
         created AS (
           INSERT INTO reservations (order_id, status, updated_at)
           SELECT o, s::reservation_status, now() FROM unnest($4::uuid[], $5::text[]) AS c(o, s)),
         lines AS (
           INSERT INTO reservation_lines (order_id, product_id, quantity)
           SELECT * FROM unnest($6::uuid[], $7::uuid[], $8::int[]))
         UPDATE reservations r SET status = c.s::reservation_status, updated_at = now()
           FROM unnest($9::uuid[], $10::text[]) AS c(o, s)
          WHERE r.order_id = c.o`,
};

interface ReadRow {
  reservations: [string, ReservationStatus][];
  lines: [string, string, number][];
  products: [string, number, number][];
}

async function readSnapshot(tx: Sql, commands: readonly StockCommand[]): Promise<StockSnapshot> {
  const orderIds = [...new Set(commands.map((c) => c.data.orderId))];
  const { rows } = await tx.query<ReadRow>({
    ...READ,
    values: [orderIds, [...new Set(productsNamed(commands))]],
  });
  const row = rows[0]!;
  const lines = new Map<string, Line[]>();
  for (const [orderId, productId, quantity] of row.lines) {
    const list = lines.get(orderId) ?? [];
    list.push({ productId, quantity });
    lines.set(orderId, list);
  }
  return {
    reservations: new Map(
      row.reservations.map(([orderId, status]) => [orderId, { status, lines: lines.get(orderId) ?? [] }]),
    ),
    products: new Map(row.products.map(([id, onHand, reserved]) => [id, { onHand, reserved }])),
  };
}

async function writePlan(tx: Sql, plan: StockPlan): Promise<void> {
  const deltas = [...plan.deltas].filter(([, d]) => d.reserved !== 0 || d.onHand !== 0);
  const created = [...plan.created];
  const lines = created.flatMap(([orderId, r]) => r.lines.map((line) => ({ orderId, ...line })));
  const changed = [...plan.changed];
  if (deltas.length + created.length + changed.length === 0) return;
  await tx.query({
    ...WRITE,
    values: [
      deltas.map(([id]) => id),
      deltas.map(([, d]) => d.reserved),
      deltas.map(([, d]) => d.onHand),
      created.map(([orderId]) => orderId),
      created.map(([, r]) => r.status),
      lines.map((l) => l.orderId),
      lines.map((l) => l.productId),
      lines.map((l) => l.quantity),
      changed.map(([orderId]) => orderId),
      changed.map(([, status]) => status),
    ],
  });
}

/** Carries out a chunk of stock commands in the caller's transaction and queues their replies. */
export async function handleStockCommands(
  messages: readonly Message[],
  { tx, traceparent }: Pick<HandlerContext, 'tx' | 'traceparent'>,
): Promise<void> {
  const commands = messages as readonly (Message & StockCommand)[];
  // A command the planner rejects (StockCommandRejected) fails the chunk; the consumer then
  // handles each command alone, so only that one is retried and dead-lettered.
  const plan = planStock(commands, await readSnapshot(tx, commands));
  await writePlan(tx, plan);
  await enqueue(
    tx,
    ...commands.flatMap((command, index) => {
      const reply = plan.replies[index];
      if (!reply) return [];
      return [
        buildMessage(reply.type, command.data.orderId, reply.data as never, {
          source: 'inventory',
          traceparent: traceparent(command),
        }),
      ];
    }),
  );
}

export const stockHandling: MessageHandling = { types: STOCK_COMMANDS, handle: handleStockCommands };
