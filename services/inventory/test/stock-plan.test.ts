import { describe, expect, it } from 'vitest';
import {
  planStock,
  productsNamed,
  type StockCommand,
  StockCommandRejected,
  type StockSnapshot,
} from '../src/domain/stock-plan.js';

const [p1, p2, p3] = [
  '11111111-1111-4111-8111-111111111111',
  '22222222-2222-4222-8222-222222222222',
  '33333333-3333-4333-8333-333333333333',
];
const [o1, o2, o3] = [
  'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
  'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
  'cccccccc-cccc-4ccc-8ccc-cccccccccccc',
];

const reserve = (orderId: string, ...items: [string, number][]): StockCommand => ({
  type: 'stock.reserve',
  data: { orderId, items: items.map(([productId, quantity]) => ({ productId, quantity })) },
});
const release = (orderId: string): StockCommand => ({ type: 'stock.release', data: { orderId } });
const commit = (orderId: string): StockCommand => ({ type: 'stock.commit', data: { orderId } });

const snapshot = (
  products: Record<string, [onHand: number, reserved: number]>,
  reservations: StockSnapshot['reservations'] = new Map(),
): StockSnapshot => ({
  products: new Map(Object.entries(products).map(([id, [onHand, reserved]]) => [id, { onHand, reserved }])),
  reservations,
});

describe('planStock', () => {
  it('decides a batch exactly as the commands one at a time: the second order for the last unit is refused', () => {
    const plan = planStock([reserve(o1, [p1, 1]), reserve(o2, [p1, 1])], snapshot({ [p1]: [1, 0] }));
    expect(plan.replies.map((r) => r?.type)).toEqual(['stock.reserved', 'stock.reservation-failed']);
    expect(plan.replies[1]).toMatchObject({ data: { reason: 'OUT_OF_STOCK', productIds: [p1] } });
    expect(plan.deltas.get(p1)).toEqual({ reserved: 1, onHand: 0 });
    expect(plan.created.get(o1)).toEqual({ status: 'RESERVED', lines: [{ productId: p1, quantity: 1 }] });
    // A refused order is remembered as released, so a late copy cannot reserve.
    expect(plan.created.get(o2)).toEqual({ status: 'RELEASED', lines: [] });
  });

  it('adds up the stock moves of every command per product', () => {
    const plan = planStock(
      [reserve(o1, [p1, 2], [p2, 1]), reserve(o2, [p1, 3]), commit(o3)],
      snapshot(
        { [p1]: [10, 4], [p2]: [5, 0], [p3]: [7, 2] },
        new Map([[o3, { status: 'RESERVED', lines: [{ productId: p3, quantity: 2 }] }]]),
      ),
    );
    expect(Object.fromEntries(plan.deltas)).toEqual({
      [p1]: { reserved: 5, onHand: 0 },
      [p2]: { reserved: 1, onHand: 0 },
      [p3]: { reserved: -2, onHand: -2 },
    });
    expect(plan.changed).toEqual(new Map([[o3, 'COMMITTED']]));
    expect(plan.replies.map((r) => r?.type)).toEqual(['stock.reserved', 'stock.reserved', 'stock.committed']);
  });

  it('follows one order through several commands of a batch: reserved, then released', () => {
    const plan = planStock(
      [reserve(o1, [p1, 2]), release(o1), reserve(o1, [p1, 2])],
      snapshot({ [p1]: [5, 0] }),
    );
    expect(plan.deltas.get(p1)).toEqual({ reserved: 0, onHand: 0 });
    expect(plan.created.get(o1)).toEqual({ status: 'RELEASED', lines: [{ productId: p1, quantity: 2 }] });
    // The reserve after the release does nothing and says nothing: the saga has moved on.
    expect(plan.replies.map((r) => r?.type)).toEqual(['stock.reserved', 'stock.released', undefined]);
  });

  it('answers repeats from the reservation without moving stock', () => {
    const reserved = new Map([
      [o1, { status: 'RESERVED' as const, lines: [{ productId: p1, quantity: 1 }] }],
    ]);
    const plan = planStock(
      [reserve(o1, [p1, 1]), commit(o1), commit(o1)],
      snapshot({ [p1]: [3, 1] }, reserved),
    );
    expect(plan.replies.map((r) => r?.type)).toEqual([
      'stock.reserved',
      'stock.committed',
      'stock.committed',
    ]);
    expect(plan.deltas.get(p1)).toEqual({ reserved: -1, onHand: -1 });
    expect(plan.changed.get(o1)).toBe('COMMITTED');
  });

  it('leaves a tombstone for a release that comes first', () => {
    const plan = planStock([release(o1), reserve(o1, [p1, 1])], snapshot({ [p1]: [3, 0] }));
    expect(plan.created.get(o1)).toEqual({ status: 'RELEASED', lines: [] });
    expect(plan.deltas.size).toBe(0);
    expect(plan.replies.map((r) => r?.type)).toEqual(['stock.released', undefined]);
  });

  it('refuses unknown products', () => {
    const plan = planStock([reserve(o1, [p1, 1], [p2, 1])], snapshot({ [p1]: [3, 0] }));
    expect(plan.replies[0]).toMatchObject({ data: { reason: 'UNKNOWN_PRODUCT', productIds: [p2] } });
    expect(plan.deltas.size).toBe(0);
  });

  it('rejects a release of committed stock and a commit of stock never reserved, naming the command', () => {
    const committed = new Map([[o1, { status: 'COMMITTED' as const, lines: [] }]]);
    expect(() => planStock([release(o1)], snapshot({}, committed))).toThrow(StockCommandRejected);
    const error = (() => {
      try {
        planStock([reserve(o2, [p1, 1]), commit(o3)], snapshot({ [p1]: [3, 0] }));
      } catch (e) {
        return e as StockCommandRejected;
      }
    })();
    expect(error).toBeInstanceOf(StockCommandRejected);
    expect(error?.index).toBe(1);
    expect(error?.message).toMatch(/not reserved/);
  });

  it('names the products a batch must lock beside those of its reservations', () => {
    expect(productsNamed([reserve(o1, [p2, 1], [p1, 1]), release(o2), reserve(o3, [p2, 4])])).toEqual([
      p2,
      p1,
      p2,
    ]);
  });
});
