import { databaseEnv, kafkaEnv, messagingEnv, serviceEnv } from '@shop/platform';
import type { z } from 'zod';

export const inventoryEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(messagingEnv.shape);
export type InventoryConfig = z.infer<typeof inventoryEnv>;
