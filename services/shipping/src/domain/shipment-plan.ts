// Deciding a batch of the saga's shipping commands at once, against the
// shipments they concern (locked by the caller), in the order they arrived:
// which shipments to create, which to change, and the reply to each command.
// Idempotent through the shipment's status: scheduling twice answers the same
// carrier and tracking id, cancelling twice answers cancelled again, and a
// cancel that came first leaves a tombstone so a late schedule ships nothing.
// No I/O here.
import type { MessageData } from '@shop/contracts';
import { quote } from './carrier.js';

export type ShippingCommand =
  | { type: 'shipment.schedule'; data: MessageData<'shipment.schedule'> }
  | { type: 'shipment.cancel'; data: MessageData<'shipment.cancel'> };

export type ShippingReply =
  | { type: 'shipment.scheduled'; data: MessageData<'shipment.scheduled'> }
  | { type: 'shipment.scheduling-failed'; data: MessageData<'shipment.scheduling-failed'> }
  | { type: 'shipment.cancelled'; data: MessageData<'shipment.cancelled'> };

export interface ShipmentRecord {
  orderId: string;
  status: 'SCHEDULED' | 'CANCELLED';
  carrier: string | null;
  trackingId: string | null;
  address: MessageData<'shipment.schedule'>['address'] | null;
  failureReason: 'SHIPPING_UNAVAILABLE' | null;
}

export interface ShipmentPlan {
  created: Map<string, ShipmentRecord>;
  changed: Map<string, ShipmentRecord>;
  /** By command index: the reply, or none (a schedule after the saga cancelled). */
  replies: (ShippingReply | undefined)[];
}

export function planShipments(
  commands: readonly ShippingCommand[],
  records: ReadonlyMap<string, ShipmentRecord>,
): ShipmentPlan {
  const current = new Map(records);
  const plan: ShipmentPlan = {
    created: new Map(),
    changed: new Map(),
    replies: commands.map(() => undefined),
  };
  const save = (record: ShipmentRecord) => {
    current.set(record.orderId, record);
    (records.has(record.orderId) ? plan.changed : plan.created).set(record.orderId, record);
  };

  commands.forEach((command, index) => {
    const { orderId } = command.data;
    const shipment = current.get(orderId);
    if (command.type === 'shipment.schedule') {
      if (shipment?.status === 'SCHEDULED') {
        plan.replies[index] = scheduled(shipment);
        return;
      }
      if (shipment?.failureReason) {
        plan.replies[index] = {
          type: 'shipment.scheduling-failed',
          data: { orderId, reason: shipment.failureReason },
        };
        return;
      }
      if (shipment) return; // cancelled before it was scheduled: the saga has moved on
      const answer = quote(orderId, command.data.address);
      if (!answer.ok) {
        save({
          orderId,
          status: 'CANCELLED',
          carrier: null,
          trackingId: null,
          address: command.data.address,
          failureReason: answer.reason,
        });
        plan.replies[index] = {
          type: 'shipment.scheduling-failed',
          data: { orderId, reason: answer.reason },
        };
        return;
      }
      const created: ShipmentRecord = {
        orderId,
        status: 'SCHEDULED',
        carrier: answer.carrier,
        trackingId: answer.trackingId,
        address: command.data.address,
        failureReason: null,
      };
      save(created);
      plan.replies[index] = scheduled(created);
      return;
    }
    // shipment.cancel: whatever there was, nothing ships; with nothing yet, a tombstone.
    if (shipment?.status === 'SCHEDULED') save({ ...shipment, status: 'CANCELLED' });
    else if (!shipment)
      save({
        orderId,
        status: 'CANCELLED',
        carrier: null,
        trackingId: null,
        address: null,
        failureReason: null,
      });
    plan.replies[index] = { type: 'shipment.cancelled', data: { orderId } };
  });
  return plan;
}

function scheduled(shipment: ShipmentRecord): ShippingReply {
  return {
    type: 'shipment.scheduled',
    data: { orderId: shipment.orderId, carrier: shipment.carrier!, trackingId: shipment.trackingId! },
  };
}
