import { describe, expect, it } from 'vitest';
import { maySee, paymentView, toView } from '../src/domain/payment-view.js';

const owner = { id: '00000000-0000-4000-8000-0000000000b3', role: 'customer' as const };
const stranger = { id: '00000000-0000-4000-8000-0000000000b4', role: 'customer' as const };
const admin = { id: '00000000-0000-4000-8000-0000000000b5', role: 'admin' as const };

const stored = {
  id: '00000000-0000-4000-8000-0000000000c3',
  orderId: '00000000-0000-4000-8000-0000000000a3',
  userId: owner.id,
  status: 'CAPTURED' as const,
  amountCents: 4200,
  currency: 'EUR',
  failureReason: null,
  providerAuthorizationId: 'auth_3',
  createdAt: new Date('2026-01-01T00:00:00Z'),
  updatedAt: new Date('2026-01-01T00:00:01Z'),
};

describe('payment visibility', () => {
  it('shows a payment to its owner and to admins only', () => {
    expect(maySee(owner, stored)).toBe(true);
    expect(maySee(admin, stored)).toBe(true);
    expect(maySee(stranger, stored)).toBe(false);
    expect(maySee(owner, { userId: null })).toBe(false); // a tombstone has no owner
  });

  it('shows the provider authorization id to admins only', () => {
    expect(toView(stored, { forAdmin: false })).not.toHaveProperty('providerAuthorizationId');
    const view = toView(stored, { forAdmin: true });
    expect(view.providerAuthorizationId).toBe('auth_3');
    expect(paymentView.parse(view)).toEqual(view);
  });
});
