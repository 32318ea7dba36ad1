import {
  databaseEnv,
  duration,
  formatDuration,
  kafkaEnv,
  messagingEnv,
  paymentBudgetEnv,
  serviceEnv,
} from '@shop/platform';
import { z } from 'zod';
import { providerCallBudgetMs } from './provider/budget.js';

/** The card provider (the simulator in development) and how patiently it is called. */
export const providerEnv = z.object({
  PROVIDER_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8090'),
  /** Sent as `Authorization: Bearer`; the default is the simulator's test key. */
  PROVIDER_API_KEY: z.string().min(8).default('sk_test_shop_simulator'),
  /** Deadline of one attempt. */
  PROVIDER_TIMEOUT: duration.prefault('1500ms'),
  /** Extra attempts after the first; safe because every call carries an Idempotency-Key. */
  PROVIDER_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
  /** Provider calls in flight at most; more wait their turn (their leases keep ticking). */
  PROVIDER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  /** How often operations left by a crashed process are looked for. */
  PAYMENT_SWEEP_INTERVAL: duration.prefault('1s'),
});

/**
 * One forward command's provider call (every attempt and wait) must fit in PAYMENT_COMMAND_BUDGET,
 * the figure orders derives its payment deadlines from (the saga would otherwise give up on a
 * payment that is still being decided).
 */
export const paymentsEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(messagingEnv.shape)
  .extend(paymentBudgetEnv.shape)
  .extend(providerEnv.shape)
  .superRefine((env, ctx) => {
    const budget = providerCallBudgetMs(env.PROVIDER_TIMEOUT, env.PROVIDER_RETRIES);
    if (budget > env.PAYMENT_COMMAND_BUDGET) {
      ctx.addIssue({
        code: 'custom',
        path: ['PROVIDER_TIMEOUT'],
        message:
          `with PROVIDER_RETRIES=${env.PROVIDER_RETRIES}, one provider call may take ${formatDuration(budget)}, ` +
          `more than PAYMENT_COMMAND_BUDGET (${formatDuration(env.PAYMENT_COMMAND_BUDGET)}); lower PROVIDER_TIMEOUT ` +
          'or PROVIDER_RETRIES, or raise PAYMENT_COMMAND_BUDGET for orders and payments alike',
      });
    }
  });
export type PaymentsConfig = z.infer<typeof paymentsEnv>;
