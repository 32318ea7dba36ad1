// Deciding a batch of the saga's stock commands at once. Given the reservations
// and product stock the commands touch (all locked by the caller, products in id
// order) and the commands in the order they arrived, it says what to write:
// stock deltas per product, reservations to create, statuses to change, and the
// reply to each command. Commands are applied one after the other to an
// in-memory copy, so a batch decides exactly what the same commands would one at
// a time, including several commands for one order. No I/O here.
import type { MessageData } from '@shop/contracts';
import { decideReservation, type Line } from './reservation.js';

export type ReservationStatus = 'RESERVED' | 'COMMITTED' | 'RELEASED';

export type StockCommand =
  | { type: 'stock.reserve'; data: MessageData<'stock.reserve'> }
  | { type: 'stock.release'; data: MessageData<'stock.release'> }
  | { type: 'stock.commit'; data: MessageData<'stock.commit'> };

export type StockReply =
  | { type: 'stock.reserved'; data: MessageData<'stock.reserved'> }
  | { type: 'stock.reservation-failed'; data: MessageData<'stock.reservation-failed'> }
  | { type: 'stock.released'; data: MessageData<'stock.released'> }
  | { type: 'stock.committed'; data: MessageData<'stock.committed'> };

export interface StockSnapshot {
  reservations: ReadonlyMap<string, { status: ReservationStatus; lines: readonly Line[] }>;
  products: ReadonlyMap<string, { onHand: number; reserved: number }>;
}

export interface StockPlan {
  /** Per product: the change to `reserved` and to `onHand`. */
  deltas: Map<string, { reserved: number; onHand: number }>;
  /** Reservations that did not exist, in their final state. */
  created: Map<string, { status: ReservationStatus; lines: Line[] }>;
  /** Existing reservations whose status changed, to their final status. */
  changed: Map<string, ReservationStatus>;
  /** For each command, by its index: the reply, or none (a reserve after the saga gave up). */
  replies: (StockReply | undefined)[];
}

/** A command that contradicts the reservation on record: a bug upstream, for a human (dead letter). */
export class StockCommandRejected extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
    this.name = 'StockCommandRejected';
  }
}

/** The product ids a batch needs locked, beside those of the reservations it touches. */
export function productsNamed(commands: readonly StockCommand[]): string[] {
  return commands.flatMap((c) => (c.type === 'stock.reserve' ? c.data.items.map((i) => i.productId) : []));
}

export function planStock(commands: readonly StockCommand[], snapshot: StockSnapshot): StockPlan {
  const reservations = new Map(snapshot.reservations);
  const stock = new Map([...snapshot.products].map(([id, level]) => [id, { ...level }]));
  const plan: StockPlan = {
    deltas: new Map(),
    created: new Map(),
    changed: new Map(),
    replies: commands.map(() => undefined),
  };

  const move = (lines: readonly Line[], change: { reserved: 1 | -1; onHand: 0 | -1 }) => {
    for (const { productId, quantity } of lines) {
      const level = stock.get(productId)!;
      level.reserved += change.reserved * quantity;
      level.onHand += change.onHand * quantity;
      const delta = plan.deltas.get(productId) ?? { reserved: 0, onHand: 0 };
      delta.reserved += change.reserved * quantity;
      delta.onHand += change.onHand * quantity;
      plan.deltas.set(productId, delta);
    }
  };
  const record = (orderId: string, status: ReservationStatus, lines: Line[] = []) => {
    const existing = reservations.get(orderId);
    reservations.set(orderId, { status, lines: existing?.lines ?? lines });
    if (plan.created.has(orderId) || !snapshot.reservations.has(orderId))
      plan.created.set(orderId, { status, lines: plan.created.get(orderId)?.lines ?? lines });
    else plan.changed.set(orderId, status);
  };

  commands.forEach((command, index) => {
    const { orderId } = command.data;
    const current = reservations.get(orderId);
    switch (command.type) {
      case 'stock.reserve': {
        if (current?.status === 'RESERVED' || current?.status === 'COMMITTED') {
          plan.replies[index] = { type: 'stock.reserved', data: { orderId } };
          return;
        }
        if (current?.status === 'RELEASED') return; // released (or refused) before: the saga has moved on
        const decision = decideReservation(
          command.data.items,
          [...new Set(command.data.items.map((i) => i.productId))]
            .filter((id) => stock.has(id))
            .map((id) => ({ productId: id, ...stock.get(id)! })),
        );
        if (!decision.ok) {
          // Remembered as released, so a late copy of this command cannot reserve after the saga gave up.
          record(orderId, 'RELEASED');
          plan.replies[index] = {
            type: 'stock.reservation-failed',
            data: { orderId, reason: decision.reason, productIds: decision.productIds },
          };
          return;
        }
        move(decision.lines, { reserved: 1, onHand: 0 });
        record(orderId, 'RESERVED', decision.lines);
        plan.replies[index] = { type: 'stock.reserved', data: { orderId } };
        return;
      }
      case 'stock.release': {
        if (current?.status === 'COMMITTED')
          throw new StockCommandRejected(
            index,
            `order ${orderId}: cannot release stock that was committed (the saga should never ask)`,
          );
        if (current?.status === 'RESERVED') {
          move(current.lines, { reserved: -1, onHand: 0 });
          record(orderId, 'RELEASED');
        } else if (current === undefined) {
          // Nothing was reserved yet: a tombstone, so a reserve arriving later does nothing.
          record(orderId, 'RELEASED');
        }
        plan.replies[index] = { type: 'stock.released', data: { orderId } };
        return;
      }
      case 'stock.commit': {
        if (current?.status === 'RESERVED') {
          move(current.lines, { reserved: -1, onHand: -1 });
          record(orderId, 'COMMITTED');
        } else if (current?.status !== 'COMMITTED') {
          throw new StockCommandRejected(
            index,
            `order ${orderId}: cannot commit stock that is ${current?.status ?? 'not reserved'}`,
          );
        }
        plan.replies[index] = { type: 'stock.committed', data: { orderId } };
        return;
      }
    }
  });
  return plan;
}
