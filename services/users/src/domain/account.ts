// What an account is to clients, and the rules on its fields: pure, no I/O.
import { emailAddress } from '@shop/contracts';
import { text, trimmedText } from '@shop/platform';
import { z } from 'zod';

export const roles = ['customer', 'admin'] as const;
export type Role = (typeof roles)[number];

/**
 * Emails are compared case-insensitively by storing them lower-cased. Strictly,
 * the local part may be case-sensitive (RFC 5321), but no mail provider in use
 * treats it so, and letting `Ann@x.com` and `ann@x.com` be two accounts invites
 * confusion and impersonation.
 */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The address a deleted account keeps: unique per account, not a valid
 * registration email (`.invalid` is reserved, RFC 2606, and registration wants
 * a dotted domain), so the real address is free to be registered again.
 */
export function scrubbedEmail(userId: string): string {
  return `deleted+${userId}@invalid`;
}

/**
 * Sent as it is (no surrounding spaces), so the published pattern is the whole
 * rule; the 254 limit is the longest address SMTP can carry (RFC 5321 + errata).
 */
export const email = emailAddress;
/**
 * 8 is NIST SP 800-63B's minimum (in characters: an emoji counts once); 128
 * bounds the work a single request can ask argon2 for, with room for any passphrase.
 */
export const password = text({ min: 8, max: 128 });
export const displayName = trimmedText({ max: 100 });

export const userView = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  role: z.enum(roles),
});
export type UserView = z.infer<typeof userView>;

export function toView(user: UserView): UserView {
  return { id: user.id, email: user.email, name: user.name, role: user.role };
}

export type SeedAction = 'create' | 'promote' | 'unchanged';

/** What seeding the admin does given the live account holding its email, if any. */
export function decideSeed(existing: { role: Role } | null): SeedAction {
  if (!existing) return 'create';
  return existing.role === 'admin' ? 'unchanged' : 'promote';
}
