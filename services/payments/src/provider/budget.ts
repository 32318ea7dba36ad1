// How long calls to the provider may take at worst. Every command calls the
// provider inside the consumer's transaction, so these bound how long a payment
// row stays locked and how long a Kafka partition waits for one message.
import type { BackoffPolicy } from '@shop/platform';

/** Short waits between attempts: the provider either answers quickly or is in trouble. */
export const PROVIDER_BACKOFF: BackoffPolicy = { baseMs: 50, capMs: 500 };

/** A compensation makes at most three calls: void (refused: already captured), look, refund. */
export const MAX_PROVIDER_CALLS_PER_COMMAND = 3;

/** The longest one call can take: every attempt times out, with the longest backoff between them. */
export function providerCallBudgetMs(timeoutMs: number, retries: number, backoff = PROVIDER_BACKOFF): number {
  let waits = 0;
  for (let attempt = 0; attempt < retries; attempt++)
    waits += Math.min(backoff.capMs, backoff.baseMs * 2 ** attempt);
  return (retries + 1) * timeoutMs + waits;
}

/** How long the consumer's transaction may run: the provider calls plus room for the database work. */
export function commandBudgetMs(timeoutMs: number, retries: number): number {
  return MAX_PROVIDER_CALLS_PER_COMMAND * providerCallBudgetMs(timeoutMs, retries) + 2000;
}
