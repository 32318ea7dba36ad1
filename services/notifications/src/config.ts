import { databaseEnv, duration, kafkaEnv, messagingEnv, serviceEnv } from '@shop/platform';
import { z } from 'zod';

export const notificationsEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(messagingEnv.shape)
  .extend({
    /** The sender of every e-mail (the mails are simulated: written to the log). */
    MAIL_FROM: z.string().trim().min(3).default('shop <no-reply@shop.example>'),
    /** How often mails whose sending a crash interrupted are looked for. */
    MAIL_SWEEP_INTERVAL: duration.prefault('5s'),
  });
export type NotificationsConfig = z.infer<typeof notificationsEnv>;
