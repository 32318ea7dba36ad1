// Deciding a reservation: all of an order's lines are reserved, or none. The
// caller has locked the product rows (in product id order, so two orders never
// deadlock), which is what makes this decision safe under any concurrency.

export interface StockLevel {
  productId: string;
  onHand: number;
  reserved: number;
}

export interface Line {
  productId: string;
  quantity: number;
}

export type ReservationDecision =
  | { ok: true; lines: Line[] }
  | { ok: false; reason: 'OUT_OF_STOCK' | 'UNKNOWN_PRODUCT'; productIds: string[] };

/** Merges repeated lines of one product, so an order cannot dodge the check by splitting a quantity. */
export function mergeLines(lines: Line[]): Line[] {
  const merged = new Map<string, number>();
  for (const line of lines) merged.set(line.productId, (merged.get(line.productId) ?? 0) + line.quantity);
  return [...merged]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => a.productId.localeCompare(b.productId));
}

export function decideReservation(lines: Line[], stock: StockLevel[]): ReservationDecision {
  const merged = mergeLines(lines);
  const byId = new Map(stock.map((level) => [level.productId, level]));
  const unknown = merged.filter((line) => !byId.has(line.productId)).map((line) => line.productId);
  if (unknown.length > 0) return { ok: false, reason: 'UNKNOWN_PRODUCT', productIds: unknown };
  const short = merged
    .filter((line) => {
      const level = byId.get(line.productId)!;
      return level.onHand - level.reserved < line.quantity;
    })
    .map((line) => line.productId);
  if (short.length > 0) return { ok: false, reason: 'OUT_OF_STOCK', productIds: short };
  return { ok: true, lines: merged };
}

export const available = (level: Pick<StockLevel, 'onHand' | 'reserved'>) => level.onHand - level.reserved;
