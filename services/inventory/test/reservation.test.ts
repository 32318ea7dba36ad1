import { describe, expect, it } from 'vitest';
import { decideReservation, mergeLines } from '../src/domain/reservation.js';

const a = '00000000-0000-4000-8000-00000000000a';
const b = '00000000-0000-4000-8000-00000000000b';

describe('decideReservation', () => {
  it('reserves every line when each has enough available', () => {
    expect(
      decideReservation(
        [
          { productId: b, quantity: 2 },
          { productId: a, quantity: 1 },
        ],
        [
          { productId: a, onHand: 5, reserved: 4 },
          { productId: b, onHand: 2, reserved: 0 },
        ],
      ),
    ).toEqual({
      ok: true,
      lines: [
        { productId: a, quantity: 1 },
        { productId: b, quantity: 2 },
      ],
    });
  });

  it('reserves nothing when any line is short, and names the short products', () => {
    expect(
      decideReservation(
        [
          { productId: a, quantity: 1 },
          { productId: b, quantity: 3 },
        ],
        [
          { productId: a, onHand: 5, reserved: 0 },
          { productId: b, onHand: 3, reserved: 1 },
        ],
      ),
    ).toEqual({ ok: false, reason: 'OUT_OF_STOCK', productIds: [b] });
  });

  it('counts a product split over several lines as one quantity', () => {
    expect(
      mergeLines([
        { productId: a, quantity: 2 },
        { productId: a, quantity: 2 },
      ]),
    ).toEqual([{ productId: a, quantity: 4 }]);
    expect(
      decideReservation(
        [
          { productId: a, quantity: 2 },
          { productId: a, quantity: 2 },
        ],
        [{ productId: a, onHand: 3, reserved: 0 }],
      ),
    ).toMatchObject({ ok: false, reason: 'OUT_OF_STOCK' });
  });

  it('refuses unknown products', () => {
    expect(decideReservation([{ productId: a, quantity: 1 }], [])).toEqual({
      ok: false,
      reason: 'UNKNOWN_PRODUCT',
      productIds: [a],
    });
  });
});
