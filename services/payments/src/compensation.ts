// The saga's compensations, `payment.void` and `payment.refund`: make sure the
// order holds no money, whatever its payment's state (domain/release.ts
// decides). The saga never gives up on a compensation and sends it again when
// its deadline passes, so when the provider cannot be reached this sends no
// reply and returns normally: throwing would only retry it five times and then
// dead-letter it, while the next copy from the saga will find the provider back.
import type { Logger } from '@shop/platform';
import type { Transaction } from './db.js';
import type { Reply } from './domain/payment.js';
import type { ProviderAuthorization, Unavailable } from './domain/provider-outcome.js';
import {
  afterRelease,
  type Compensation,
  decideRelease,
  type ReleaseDecision,
  releaseStep,
} from './domain/release.js';
import { lockOrCreatePayment, savePayment, sendReply } from './payment-store.js';
import type { PaymentProvider } from './provider/client.js';

/** Returns the reply it queued, or undefined when the provider could not be reached. */
export async function compensatePayment(
  tx: Transaction,
  provider: PaymentProvider,
  orderId: string,
  compensation: Compensation,
  log: Logger,
): Promise<Reply | undefined> {
  // With no payment yet, a VOIDED tombstone: the authorize still on its way is then refused.
  const payment = await lockOrCreatePayment(tx, orderId, { status: 'VOIDED' });
  const decision = decideRelease(payment, compensation);
  if (decision.action === 'reply') {
    await sendReply(tx, decision.reply);
    return decision.reply;
  }
  const released = await releaseAtProvider(provider, orderId, decision);
  if (released.kind === 'unavailable') {
    log.warn(
      { orderId, compensation, status: payment.status, reason: released.reason },
      'payment provider unavailable; no reply, the saga will send the compensation again',
    );
    return undefined;
  }
  const { change, reply } = afterRelease(payment, compensation, released.authorizations);
  await savePayment(tx, payment, change);
  await sendReply(tx, reply);
  return reply;
}

type Released = { kind: 'released'; authorizations: ProviderAuthorization[] } | Unavailable;

/**
 * Makes every authorization the provider holds for the order hold nothing, and
 * returns them in their final state. Starts from what our record says; when the
 * provider refuses that (our record is behind: a capture whose answer was lost),
 * or when the record knows nothing (UNKNOWN), the provider's own view decides.
 */
async function releaseAtProvider(
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
