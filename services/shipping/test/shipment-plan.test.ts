import type { ShippingAddress } from '@shop/contracts';
import { countryCodes } from '@shop/contracts';
import { describe, expect, it } from 'vitest';
import { quote } from '../src/domain/carrier.js';
import { planShipments, type ShipmentRecord, type ShippingCommand } from '../src/domain/shipment-plan.js';

const [a, b] = ['aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'];
const address = (country: ShippingAddress['country']): ShippingAddress => ({
  name: 'Ada',
  line1: '1 Main Street',
  city: 'Somewhere',
  postalCode: '12345',
  country,
});
const schedule = (orderId: string, country: ShippingAddress['country'] = 'FR'): ShippingCommand => ({
  type: 'shipment.schedule',
  data: { orderId, address: address(country) },
});
const cancel = (orderId: string): ShippingCommand => ({ type: 'shipment.cancel', data: { orderId } });

describe('the carrier', () => {
  it('serves every ISO 3166-1 country but Antarctica, the same way every time', () => {
    const refused = countryCodes.filter((country) => !quote(a, address(country)).ok);
    expect(refused).toEqual(['AQ']);
    expect(quote(a, address('FR'))).toEqual(quote(a, address('FR')));
    expect(quote(a, address('FR'))).toMatchObject({
      ok: true,
      carrier: expect.any(String),
      trackingId: expect.stringMatching(/^[A-Z]{3}[0-9A-F]{12}$/),
    });
    expect(quote(a, address('FR'))).not.toEqual(quote(b, address('FR')));
  });
});

describe('planShipments', () => {
  it('schedules with a carrier and tracking id, and answers a repeat with the same', () => {
    const plan = planShipments([schedule(a), schedule(a)], new Map());
    expect(plan.created.get(a)).toMatchObject({ status: 'SCHEDULED', address: address('FR') });
    expect(plan.replies[0]).toEqual(plan.replies[1]);
    expect(plan.replies[0]).toMatchObject({
      type: 'shipment.scheduled',
      data: { orderId: a, carrier: expect.any(String) },
    });
  });

  it('refuses Antarctica with SHIPPING_UNAVAILABLE, again for a repeat, and records nothing live', () => {
    const plan = planShipments([schedule(a, 'AQ'), schedule(a, 'AQ')], new Map());
    expect(plan.created.get(a)).toMatchObject({
      status: 'CANCELLED',
      failureReason: 'SHIPPING_UNAVAILABLE',
      carrier: null,
    });
    expect(plan.replies.map((r) => r?.type)).toEqual([
      'shipment.scheduling-failed',
      'shipment.scheduling-failed',
    ]);
  });

  it('cancels idempotently, and a cancel that comes first keeps a late schedule from shipping', () => {
    const scheduled: ShipmentRecord = {
      orderId: a,
      status: 'SCHEDULED',
      carrier: 'UPS',
      trackingId: 'UPS1',
      address: address('FR'),
      failureReason: null,
    };
    const plan = planShipments([cancel(a), cancel(a), cancel(b), schedule(b)], new Map([[a, scheduled]]));
    expect(plan.changed.get(a)).toMatchObject({ status: 'CANCELLED', trackingId: 'UPS1' });
    expect(plan.created.get(b)).toMatchObject({ status: 'CANCELLED', carrier: null, address: null });
    expect(plan.replies.map((r) => r?.type)).toEqual([
      'shipment.cancelled',
      'shipment.cancelled',
      'shipment.cancelled',
      undefined,
    ]);
  });
});
