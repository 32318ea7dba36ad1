// Accounts in the database: each change that other services must hear about is
// written together with its event in one transaction (the outbox).
import { buildMessage } from '@shop/contracts';
import { currentTraceparent, enqueue, Problem, prismaOutbox } from '@shop/platform';
import type { PrismaClient, Transaction } from './db.js';
import { decideSeed, normalizeEmail, type Role, type SeedAction, scrubbedEmail } from './domain/account.js';
import { Prisma, type User } from './generated/prisma/client.js';
import { hashPassword, needsRehash, type PasswordChecker } from './passwords.js';

const SOURCE = 'users';
const origin = () => ({ source: SOURCE, traceparent: currentTraceparent() });

export interface NewAccount {
  email: string;
  password: string;
  name: string;
  role?: Role;
}

export class EmailTaken extends Problem {
  constructor() {
    super(409, 'email-taken', 'An account with this email exists already.');
  }
}

const isUniqueViolation = (error: unknown) =>
  error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';

async function insertAccount(tx: Transaction, account: NewAccount, passwordHash: string): Promise<User> {
  const user = await tx.user.create({
    data: {
      email: normalizeEmail(account.email),
      name: account.name,
      passwordHash,
      role: account.role ?? 'customer',
    },
  });
  await enqueue(
    prismaOutbox(tx),
    buildMessage(
      'user.registered',
      user.id,
      { userId: user.id, email: user.email, name: user.name, role: user.role },
      origin(),
    ),
  );
  return user;
}

/** Creates an account and its `user.registered` event; a taken email (in any case) is a 409. */
export async function register(prisma: PrismaClient, account: NewAccount): Promise<User> {
  // Hashed before the transaction, so no connection is held while argon2 works.
  const passwordHash = await hashPassword(account.password);
  try {
    return await prisma.$transaction((tx) => insertAccount(tx, account, passwordHash));
  } catch (error) {
    // The unique index decides, so two concurrent registrations of one email cannot both succeed.
    if (isUniqueViolation(error)) throw new EmailTaken();
    throw error;
  }
}

/** The live account of these credentials, or null; as slow for an unknown email as for a wrong password. */
export async function authenticate(
  prisma: PrismaClient,
  passwords: PasswordChecker,
  credentials: { email: string; password: string },
): Promise<User | null> {
  const user = await prisma.user.findFirst({
    where: { email: normalizeEmail(credentials.email), deletedAt: null },
  });
  if (!(await passwords.check(user, credentials.password)) || !user) return null;
  if (needsRehash(user.passwordHash)) {
    // The only moment the plain password is at hand: upgrade hashes made under older parameters.
    // Conditional on the old hash, so a password changed meanwhile is not overwritten.
    await prisma.user.updateMany({
      where: { id: user.id, passwordHash: user.passwordHash },
      data: { passwordHash: await hashPassword(credentials.password) },
    });
  }
  return user;
}

/** The account with this id unless it was deleted. */
export function findLive(prisma: PrismaClient, id: string): Promise<User | null> {
  return prisma.user.findFirst({ where: { id, deletedAt: null } });
}

/**
 * Soft-deletes an account: the row stays (for audit and references), but its
 * email, name and password hash are scrubbed and `user.deleted` is emitted.
 * Returns false when there was no live account (unknown or deleted already).
 */
export async function deleteAccount(prisma: PrismaClient, id: string): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    // One conditional UPDATE: it locks the row, and a concurrent second delete
    // waits for it, then finds nothing live and emits nothing.
    const { count } = await tx.user.updateMany({
      where: { id, deletedAt: null },
      data: { email: scrubbedEmail(id), name: '', passwordHash: '', deletedAt: new Date() },
    });
    if (count === 0) return false;
    await enqueue(prismaOutbox(tx), buildMessage('user.deleted', id, { userId: id }, origin()));
    return true;
  });
}

/**
 * Makes sure an admin account exists for this email: creates it (with
 * `user.registered`) or promotes the live account holding the email. An
 * existing account's password and name are left alone, so running the seed
 * again never undoes a password change.
 */
export async function seedAdmin(
  prisma: PrismaClient,
  admin: { email: string; password: string; name: string },
): Promise<{ action: SeedAction; user: User }> {
  const passwordHash = await hashPassword(admin.password);
  return prisma.$transaction(async (tx) => {
    // Serialises concurrent seeds (two replicas' init steps), which would otherwise race on the insert.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('users.seed-admin'))`;
    const existing = await tx.user.findFirst({
      where: { email: normalizeEmail(admin.email), deletedAt: null },
    });
    const action = decideSeed(existing);
    if (!existing)
      return { action, user: await insertAccount(tx, { ...admin, role: 'admin' }, passwordHash) };
    if (action === 'promote') {
      return { action, user: await tx.user.update({ where: { id: existing.id }, data: { role: 'admin' } }) };
    }
    return { action, user: existing };
  });
}
