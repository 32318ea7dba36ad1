// The saga's stock commands: reserve an order's lines (all or nothing), release
// them, or commit them (the goods leave the shelf). Each runs inside the
// consumer's transaction, answers through the outbox, and is idempotent through
// the reservation's status, so a command sent twice has one effect. Plain SQL
// throughout: these run for every order, and a Prisma model query costs
// several times the CPU of the same statement (bench/FINDINGS.md).
import { buildMessage, type Message, type MessageData, type MessageType } from '@shop/contracts';
import { currentTraceparent, enqueue, type MessageHandlers } from '@shop/platform';
import type { Transaction } from './db.js';
import { decideReservation, type Line, type StockLevel } from './domain/reservation.js';

type Reply = Extract<MessageType, `stock.${'reserved' | 'reservation-failed' | 'released' | 'committed'}`>;

async function reply<T extends Reply>(tx: Transaction, type: T, orderId: string, data: MessageData<T>) {
  await enqueue(
    tx,
    buildMessage(type, orderId, data, { source: 'inventory', traceparent: currentTraceparent() }),
  );
}

async function lockReservation(tx: Transaction, orderId: string) {
  const rows = await tx.$queryRaw<{ status: ReservationStatus }[]>`
    SELECT status FROM reservations WHERE order_id = ${orderId}::uuid FOR UPDATE`;
  return rows[0]?.status;
}

type ReservationStatus = 'RESERVED' | 'COMMITTED' | 'RELEASED';

async function reservedLines(tx: Transaction, orderId: string): Promise<Line[]> {
  return tx.$queryRaw<Line[]>`
    SELECT product_id AS "productId", quantity FROM reservation_lines
     WHERE order_id = ${orderId}::uuid ORDER BY product_id`;
}

/** A new reservation (or a RELEASED tombstone) with its lines, in one statement. */
async function recordReservation(
  tx: Transaction,
  orderId: string,
  status: ReservationStatus,
  lines: Line[] = [],
) {
  await tx.$executeRaw`
    WITH created AS (
      INSERT INTO reservations (order_id, status, updated_at)
      VALUES (${orderId}::uuid, ${status}::reservation_status, now())
      RETURNING order_id)
    INSERT INTO reservation_lines (order_id, product_id, quantity)
    SELECT created.order_id, u.id, u.quantity
      FROM created, unnest(${lines.map((l) => l.productId)}::uuid[], ${lines.map((l) => l.quantity)}::int[]) AS u(id, quantity)`;
}

async function setStatus(tx: Transaction, orderId: string, status: ReservationStatus) {
  await tx.$executeRaw`
    UPDATE reservations SET status = ${status}::reservation_status, updated_at = now()
     WHERE order_id = ${orderId}::uuid`;
}

/** Moves stock between on-hand and reserved for each line (row locks in product id order). */
async function adjust(tx: Transaction, lines: Line[], change: { reserved: 1 | -1; onHand: 0 | -1 }) {
  await tx.$executeRaw`
    UPDATE products p
       SET reserved = p.reserved + ${change.reserved} * u.quantity,
           on_hand = p.on_hand + ${change.onHand} * u.quantity,
           updated_at = now()
      FROM unnest(${lines.map((l) => l.productId)}::uuid[], ${lines.map((l) => l.quantity)}::int[]) AS u(id, quantity)
     WHERE p.id = u.id`;
}

export async function reserveStock(
  tx: Transaction,
  { orderId, items }: MessageData<'stock.reserve'>,
): Promise<void> {
  const status = await lockReservation(tx, orderId);
  if (status === 'RESERVED' || status === 'COMMITTED')
    return reply(tx, 'stock.reserved', orderId, { orderId });
  if (status === 'RELEASED') return; // released (or refused) before: the saga has moved on

  const ids = [...new Set(items.map((item) => item.productId))].sort();
  const stock = await tx.$queryRaw<StockLevel[]>`
    SELECT id AS "productId", on_hand AS "onHand", reserved FROM products
     WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`;
  const decision = decideReservation(items, stock);
  if (!decision.ok) {
    // Remembered as released, so a late copy of this command cannot reserve after the saga gave up.
    await recordReservation(tx, orderId, 'RELEASED');
    return reply(tx, 'stock.reservation-failed', orderId, {
      orderId,
      reason: decision.reason,
      productIds: decision.productIds,
    });
  }
  await adjust(tx, decision.lines, { reserved: 1, onHand: 0 });
  await recordReservation(tx, orderId, 'RESERVED', decision.lines);
  await reply(tx, 'stock.reserved', orderId, { orderId });
}

export async function releaseStock(
  tx: Transaction,
  { orderId }: MessageData<'stock.release'>,
): Promise<void> {
  const status = await lockReservation(tx, orderId);
  if (status === 'COMMITTED') {
    throw new Error(`order ${orderId}: cannot release stock that was committed (the saga should never ask)`);
  }
  if (status === 'RESERVED') {
    await adjust(tx, await reservedLines(tx, orderId), { reserved: -1, onHand: 0 });
    await setStatus(tx, orderId, 'RELEASED');
  } else if (status === undefined) {
    // Nothing was reserved yet: leave a tombstone so a reserve arriving later does nothing.
    await recordReservation(tx, orderId, 'RELEASED');
  }
  await reply(tx, 'stock.released', orderId, { orderId });
}

export async function commitStock(tx: Transaction, { orderId }: MessageData<'stock.commit'>): Promise<void> {
  const status = await lockReservation(tx, orderId);
  if (status === 'RESERVED') {
    await adjust(tx, await reservedLines(tx, orderId), { reserved: -1, onHand: -1 });
    await setStatus(tx, orderId, 'COMMITTED');
  } else if (status !== 'COMMITTED') {
    throw new Error(`order ${orderId}: cannot commit stock that is ${status ?? 'not reserved'}`);
  }
  await reply(tx, 'stock.committed', orderId, { orderId });
}

export const stockHandlers: MessageHandlers<Transaction> = {
  'stock.reserve': (message: Message<'stock.reserve'>, { tx }) => reserveStock(tx, message.data),
  'stock.release': (message: Message<'stock.release'>, { tx }) => releaseStock(tx, message.data),
  'stock.commit': (message: Message<'stock.commit'>, { tx }) => commitStock(tx, message.data),
};
