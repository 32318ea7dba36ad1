// Making an order hold no money at the provider, whatever our record says: the
// I/O half of a compensation (domain/release.ts decides what to ask).
import type { ProviderAuthorization, Unavailable } from '../domain/provider-outcome.js';
import { type ReleaseDecision, releaseStep } from '../domain/release.js';
import type { PaymentProvider } from './client.js';

export type Released = { kind: 'released'; authorizations: ProviderAuthorization[] } | Unavailable;

/**
 * Makes every authorization the provider holds for the order hold nothing, and
 * returns them in their final state. Starts from what our record says; when the
 * provider refuses that (our record is behind: a capture whose answer was lost),
 * or when the record knows nothing (UNKNOWN), the provider's own view decides.
 */
export async function releaseAtProvider(
  provider: PaymentProvider,
  orderId: string,
  decision: Exclude<ReleaseDecision, { action: 'reply' }>,
): Promise<Released> {
  let held: Awaited<ReturnType<PaymentProvider['lookup']>>;
  if (decision.action === 'lookup') {
    held = await provider.lookup(orderId);
  } else {
    const first = await provider[decision.action](orderId, decision.authorizationId);
    if (first.kind === 'done') return { kind: 'released', authorizations: [first.authorization] };
    if (first.kind === 'unavailable') return first;
    held = await provider.fetch(decision.authorizationId);
  }
  if (held.kind === 'unavailable') return held;

  const final: ProviderAuthorization[] = [];
  for (const authorization of held.authorizations) {
    const step = releaseStep(authorization.status);
    if (step === 'nothing') {
      final.push(authorization);
      continue;
    }
    const outcome = await provider[step](orderId, authorization.id);
    // Refused here means it changed under us; the saga's next copy looks again.
    if (outcome.kind === 'refused')
      return { kind: 'unavailable', reason: `${step} refused: ${outcome.code}` };
    if (outcome.kind === 'unavailable') return outcome;
    final.push(outcome.authorization);
  }
  return { kind: 'released', authorizations: final };
}
