import { databaseEnv, duration, kafkaEnv, serviceEnv } from '@shop/platform';
import { z } from 'zod';

export const ordersEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend({
    INVENTORY_URL: z.url().default('http://127.0.0.1:8082'),
    /**
     * How long each forward step may wait for its reply before the saga compensates. Generous:
     * a reply late under load is better than a needless cancellation; payments answers within
     * its own provider budget (a few seconds), inventory within milliseconds when healthy.
     * Keep each well above the consumers' Kafka session timeout (30 s, platform kafka.ts) plus
     * a restart: that is how long a crashed participant's partitions wait before its restart
     * takes them, and an order should survive a crash of inventory or payments.
     */
    SAGA_RESERVE_TIMEOUT: duration.prefault('60s'),
    SAGA_AUTHORIZE_TIMEOUT: duration.prefault('60s'),
    SAGA_CAPTURE_TIMEOUT: duration.prefault('60s'),
    /** First wait before a compensation is sent again; it doubles up to SAGA_COMPENSATION_MAX_BACKOFF. */
    SAGA_COMPENSATION_TIMEOUT: duration.prefault('5s'),
    SAGA_COMPENSATION_MAX_BACKOFF: duration.prefault('60s'),
    /** How often overdue steps are looked for. */
    SAGA_SWEEP_INTERVAL: duration.prefault('500ms'),
    /**
     * Up to this many replies of one partition are applied in one transaction (1: one each).
     * Safe because a reply locks only its own order, the partition key.
     */
    SAGA_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  });
export type OrdersConfig = z.infer<typeof ordersEnv>;
