// How long calls to the provider may take at worst. A recorded operation's
// lease is this long: another process takes it over only once its call could
// no longer be running.
import type { BackoffPolicy } from '@shop/platform';
import type { ProviderCall } from '../domain/command-plan.js';

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

/** How long an operation's one attempt may take: one call forward, up to three for a compensation. */
export function leaseFor(timeoutMs: number, retries: number) {
  const call = providerCallBudgetMs(timeoutMs, retries);
  return (operation: ProviderCall): number =>
    operation.kind === 'release' ? MAX_PROVIDER_CALLS_PER_COMMAND * call : call;
}
