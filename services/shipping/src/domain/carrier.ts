// The carrier, simulated deterministically: every ISO 3166-1 country is served
// except Antarctica; the carrier follows from the country and the tracking id
// from the order, so asking twice gives the same answer. No I/O here.
import { createHash } from 'node:crypto';
import type { CountryCode, ShippingAddress } from '@shop/contracts';

/** Countries no carrier serves. */
export const UNSERVED: ReadonlySet<CountryCode> = new Set(['AQ']);

const CARRIERS = ['DHL Express', 'UPS', 'FedEx', 'La Poste Colissimo'] as const;

export type Quote =
  | { ok: true; carrier: string; trackingId: string }
  | { ok: false; reason: 'SHIPPING_UNAVAILABLE' };

export function quote(orderId: string, address: ShippingAddress): Quote {
  if (UNSERVED.has(address.country)) return { ok: false, reason: 'SHIPPING_UNAVAILABLE' };
  const [a, b] = [address.country.charCodeAt(0), address.country.charCodeAt(1)];
  const carrier = CARRIERS[(a * 31 + b) % CARRIERS.length]!;
  const digest = createHash('sha256').update(orderId).digest('hex').slice(0, 12).toUpperCase();
  return { ok: true, carrier, trackingId: `${carrier.slice(0, 3).toUpperCase()}${digest}` };
}
