// Which topic carries which messages. Producers look the topic up by type, so a
// message can never be sent to a topic its consumers do not expect.
import type { MessageType } from './messages.js';

export const topics = {
  'users.events': ['user.registered', 'user.deleted'],
  'orders.events': ['order.created', 'order.confirmed', 'order.cancelled'],
  'inventory.commands': ['stock.reserve', 'stock.release', 'stock.commit'],
  'inventory.replies': ['stock.reserved', 'stock.reservation-failed', 'stock.released', 'stock.committed'],
  'payments.commands': ['payment.authorize', 'payment.capture', 'payment.void', 'payment.refund'],
  'payments.replies': [
    'payment.authorized',
    'payment.authorization-failed',
    'payment.captured',
    'payment.capture-failed',
    'payment.voided',
    'payment.refunded',
  ],
  'shipping.commands': ['shipment.schedule', 'shipment.cancel'],
  'shipping.replies': ['shipment.scheduled', 'shipment.scheduling-failed', 'shipment.cancelled'],
} as const satisfies Record<string, readonly MessageType[]>;

export type Topic = keyof typeof topics;

/** Messages that failed for good, with the error in the headers. One topic for the whole system. */
export const DEAD_LETTER_TOPIC = 'dead-letters';

export const topicNames = Object.keys(topics) as Topic[];

const topicByType = new Map<MessageType, Topic>(
  topicNames.flatMap((topic) => topics[topic].map((type) => [type, topic] as const)),
);

export function topicOf(type: MessageType): Topic {
  const topic = topicByType.get(type);
  if (!topic) throw new Error(`no topic carries message type ${type}`);
  return topic;
}

/** The topics that carry any of these types: what a consumer of them subscribes to. */
export function topicsOf(types: readonly MessageType[]): Topic[] {
  return [...new Set(types.map(topicOf))];
}
