// What a notification looks like in the list API.
import { z } from 'zod';
import type { Notification } from '../generated/prisma/client.js';
import { type NotifiedType, notifiedTypes } from './email.js';

export const notificationView = z.object({
  id: z.uuid(),
  type: z.enum(notifiedTypes),
  orderId: z.uuid().nullable(),
  createdAt: z.iso.datetime(),
});
export type NotificationView = z.infer<typeof notificationView>;

export function toView(
  notification: Pick<Notification, 'id' | 'type' | 'orderId' | 'createdAt'>,
): NotificationView {
  return {
    id: notification.id,
    // Only the four handlers write rows, each with its own event type.
    type: notification.type as NotifiedType,
    orderId: notification.orderId,
    createdAt: notification.createdAt.toISOString(),
  };
}
