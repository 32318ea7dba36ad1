import { databaseEnv, kafkaEnv, messagingEnv, serviceEnv } from '@shop/platform';
import type { z } from 'zod';

export const shippingEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(messagingEnv.shape);
export type ShippingConfig = z.infer<typeof shippingEnv>;
