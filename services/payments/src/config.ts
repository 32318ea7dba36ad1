import { consumerSettings, databaseEnv, duration, kafkaEnv, serviceEnv } from '@shop/platform';
import { z } from 'zod';
import { commandBudgetMs } from './provider/budget.js';

/** The card provider (the simulator in development) and how patiently it is called. */
export const providerEnv = z.object({
  PROVIDER_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8090'),
  /** Sent as `Authorization: Bearer`; the default is the simulator's test key. */
  PROVIDER_API_KEY: z.string().min(8).default('sk_test_shop_simulator'),
  /** Deadline of one attempt. */
  PROVIDER_TIMEOUT: duration.prefault('1500ms'),
  /** Extra attempts after the first; safe because every call carries an Idempotency-Key. */
  PROVIDER_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
});

/**
 * Kafka's consumer session must outlast the slowest command, which calls the provider
 * up to three times before its transaction commits (heartbeats go out between messages).
 * Derived, so a change of the session moves this check with it; 5 s are left for the
 * command's database work. 25 s with the 30 s session.
 */
export const MAX_COMMAND_BUDGET_MS = consumerSettings.sessionTimeout - 5_000;

export const paymentsEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(providerEnv.shape)
  .refine((env) => commandBudgetMs(env.PROVIDER_TIMEOUT, env.PROVIDER_RETRIES) <= MAX_COMMAND_BUDGET_MS, {
    path: ['PROVIDER_TIMEOUT'],
    message: `with PROVIDER_RETRIES, a command could call the provider for longer than ${MAX_COMMAND_BUDGET_MS / 1000} s; lower one of them`,
  });
export type PaymentsConfig = z.infer<typeof paymentsEnv>;
