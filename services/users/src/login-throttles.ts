// Failed sign-ins per account, counted in the users database (the decisions are
// in domain/login-throttle.ts). Each attempt is counted in a short transaction
// of its own, under the email's row lock, before any password is checked, so
// parallel attempts on several replicas are counted one by one and no lock is
// held while argon2 works.
import type { PrismaClient } from './db.js';
import { type AttemptDecision, decideAttempt, type ThrottleState } from './domain/login-throttle.js';

/** Counts an attempt to sign in as `email` (stored form) at `now`; says whether it may proceed. */
export async function countLoginAttempt(
  prisma: PrismaClient,
  email: string,
  now: Date,
): Promise<AttemptDecision> {
  return prisma.$transaction(async (tx) => {
    // A placeholder that is already expired, so the first attempt starts afresh; inserting
    // first gives concurrent first attempts one row to queue on.
    await tx.$executeRaw`
      INSERT INTO login_throttles (email, failures, window_started_at, locked_until, locks, expires_at)
      VALUES (${email}, 0, ${now}, NULL, 0, ${now})
      ON CONFLICT (email) DO NOTHING`;
    const rows = await tx.$queryRaw<ThrottleState[]>`
      SELECT failures, window_started_at AS "windowStartedAt", locked_until AS "lockedUntil", locks,
             expires_at AS "expiresAt"
        FROM login_throttles WHERE email = ${email} FOR UPDATE`;
    const decision = decideAttempt(rows[0], now);
    if (decision.allowed) {
      const { failures, windowStartedAt, lockedUntil, locks, expiresAt } = decision.next;
      await tx.$executeRaw`
        UPDATE login_throttles
           SET failures = ${failures}, window_started_at = ${windowStartedAt}, locked_until = ${lockedUntil},
               locks = ${locks}, expires_at = ${expiresAt}
         WHERE email = ${email}`;
    }
    // Forget a few long-expired accounts each time, so guesses at many emails do not pile up.
    await tx.$executeRaw`
      DELETE FROM login_throttles WHERE email IN (
        SELECT email FROM login_throttles WHERE expires_at < ${now} AND email <> ${email}
         LIMIT 20 FOR UPDATE SKIP LOCKED)`;
    return decision;
  });
}

/** A successful sign-in clears the account's count (and any lock it was about to take). */
export async function clearLoginAttempts(prisma: PrismaClient, email: string): Promise<void> {
  await prisma.$executeRaw`DELETE FROM login_throttles WHERE email = ${email}`;
}
