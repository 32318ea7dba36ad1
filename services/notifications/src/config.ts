import { databaseEnv, kafkaEnv, serviceEnv } from '@shop/platform';
import { z } from 'zod';

export const notificationsEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend({
    /** The sender of every e-mail (the mails are simulated: written to the log). */
    MAIL_FROM: z.string().trim().min(3).default('shop <no-reply@shop.example>'),
  });
export type NotificationsConfig = z.infer<typeof notificationsEnv>;
