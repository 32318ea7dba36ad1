// The saga's stock commands: reserve an order's lines (all or nothing), release
// them, or commit them (the goods leave the shelf). Each runs inside the
// consumer's transaction, answers through the outbox, and is idempotent through
// the reservation's status, so a command sent twice has one effect.
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
  const rows = await tx.$queryRaw<{ status: 'RESERVED' | 'COMMITTED' | 'RELEASED' }[]>`
    SELECT status FROM reservations WHERE order_id = ${orderId}::uuid FOR UPDATE`;
  return rows[0]?.status;
}

async function reservedLines(tx: Transaction, orderId: string): Promise<Line[]> {
  return tx.reservationLine.findMany({
    where: { orderId },
    select: { productId: true, quantity: true },
    orderBy: { productId: 'asc' },
  });
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
    await tx.reservation.create({ data: { orderId, status: 'RELEASED' } });
    return reply(tx, 'stock.reservation-failed', orderId, {
      orderId,
      reason: decision.reason,
      productIds: decision.productIds,
    });
  }
  await adjust(tx, decision.lines, { reserved: 1, onHand: 0 });
  await tx.reservation.create({ data: { orderId, status: 'RESERVED', lines: { create: decision.lines } } });
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
    await tx.reservation.update({ where: { orderId }, data: { status: 'RELEASED' } });
  } else if (status === undefined) {
    // Nothing was reserved yet: leave a tombstone so a reserve arriving later does nothing.
    await tx.reservation.create({ data: { orderId, status: 'RELEASED' } });
  }
  await reply(tx, 'stock.released', orderId, { orderId });
}

export async function commitStock(tx: Transaction, { orderId }: MessageData<'stock.commit'>): Promise<void> {
  const status = await lockReservation(tx, orderId);
  if (status === 'RESERVED') {
    await adjust(tx, await reservedLines(tx, orderId), { reserved: -1, onHand: -1 });
    await tx.reservation.update({ where: { orderId }, data: { status: 'COMMITTED' } });
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
