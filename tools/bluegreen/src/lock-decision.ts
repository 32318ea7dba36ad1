// Who may take the per-service Lease, decided from what the Lease says and the
// local clock. Pure, so the rules are tested without a cluster.
import type { ObservedLease } from './model.js';

export type AcquireDecision =
  | { action: 'create' }
  | { action: 'take'; previousHolder: string | undefined; expiredAt: Date | undefined }
  | { action: 'refuse'; holder: string; expiresAt: Date; operation: string | undefined };

export function leaseExpiry(lease: ObservedLease): Date | undefined {
  if (!lease.renewTime) return undefined;
  return new Date(lease.renewTime.getTime() + lease.durationSeconds * 1000);
}

/** Is the lease held by someone right now (a holder and a renewal inside its duration)? */
export function isHeld(lease: ObservedLease | undefined, now: Date): boolean {
  if (!lease?.holder) return false;
  const expiry = leaseExpiry(lease);
  return expiry !== undefined && expiry.getTime() > now.getTime();
}

export function decideAcquire(lease: ObservedLease | undefined, me: string, now: Date): AcquireDecision {
  if (!lease) return { action: 'create' };
  if (!lease.holder) return { action: 'take', previousHolder: undefined, expiredAt: undefined };
  if (lease.holder === me) return { action: 'take', previousHolder: undefined, expiredAt: undefined };
  if (isHeld(lease, now)) {
    return {
      action: 'refuse',
      holder: lease.holder,
      expiresAt: leaseExpiry(lease)!,
      operation: lease.operation,
    };
  }
  // Left behind by a process that died (kill -9, lost node): it stopped renewing.
  return { action: 'take', previousHolder: lease.holder, expiredAt: leaseExpiry(lease) };
}

/** How often the holder renews: a third of the duration, so two renewals can fail before it expires. */
export function renewIntervalMs(durationSeconds: number): number {
  return Math.max(200, Math.floor((durationSeconds * 1000) / 3));
}
