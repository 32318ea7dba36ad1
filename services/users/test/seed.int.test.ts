// Seeding the admin: the function against a real database, and the script as `npm run seed` runs it.
import { parseMessage } from '@shop/contracts';
import { createServiceDatabase, runTs, type TestDatabase } from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAdmin } from '../src/accounts.js';
import { createPrisma, type PrismaClient } from '../src/db.js';
import { verifyPassword } from '../src/passwords.js';
import { newcomer } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createServiceDatabase('users');
  prisma = createPrisma(db.url, 4);
});
afterAll(async () => {
  await prisma.$disconnect();
  await db.drop();
});

const eventsOf = async (userId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: userId } })).map((row) => {
    const parsed = parseMessage(JSON.stringify(row.payload));
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.message;
  });

describe('seeding the admin', () => {
  it('creates the admin once, announces it, and changes nothing when run again', async () => {
    const admin = { email: 'Root@Shop.Local', password: 'first-password', name: 'Root' };
    const first = await seedAdmin(prisma, admin);
    expect(first.action).toBe('create');
    expect(first.user).toMatchObject({ email: 'root@shop.local', role: 'admin' });
    const second = await seedAdmin(prisma, { ...admin, password: 'another-password' });
    expect(second.action).toBe('unchanged');
    expect(second.user.id).toBe(first.user.id);
    // A second run never resets a password someone may have changed since.
    expect(await verifyPassword(second.user.passwordHash, 'first-password')).toBe(true);
    expect(await prisma.user.count({ where: { email: 'root@shop.local' } })).toBe(1);
    expect(await eventsOf(first.user.id)).toEqual([
      expect.objectContaining({ type: 'user.registered', data: expect.objectContaining({ role: 'admin' }) }),
    ]);
  });

  it('promotes a customer who holds the email, keeping their password', async () => {
    const customer = newcomer();
    const created = await prisma.user.create({
      data: { email: customer.email, name: 'Cust', passwordHash: 'kept', role: 'customer' },
    });
    const seeded = await seedAdmin(prisma, {
      email: customer.email,
      password: 'whatever-it-is',
      name: 'Admin',
    });
    expect(seeded.action).toBe('promote');
    expect(await prisma.user.findUniqueOrThrow({ where: { id: created.id } })).toMatchObject({
      role: 'admin',
      passwordHash: 'kept',
      name: 'Cust',
    });
    expect(
      (await seedAdmin(prisma, { email: customer.email, password: 'whatever-it-is', name: 'A' })).action,
    ).toBe('unchanged');
  });

  it('is safe when two seeds run at once', async () => {
    const admin = { email: 'twice@shop.local', password: 'same-password', name: 'Twice' };
    const actions = (await Promise.all([seedAdmin(prisma, admin), seedAdmin(prisma, admin)])).map(
      (r) => r.action,
    );
    expect(actions.sort()).toEqual(['create', 'unchanged']);
  });

  it('runs as a script with the documented defaults, idempotently', async () => {
    const run = async (env: Record<string, string> = {}) => {
      const script = runTs('services/users/src/seed.ts', { DATABASE_URL: db.url, ...env });
      const { code } = await script.exited;
      return { code, output: script.output() };
    };
    // Started together (starting tsx is the slow part): two seeds racing must leave one admin, and
    // a refused configuration fails before touching the database.
    const [one, other, refused] = await Promise.all([run(), run(), run({ SEED_ADMIN_PASSWORD: 'short' })]);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/SEED_ADMIN_PASSWORD/);
    for (const seed of [one, other]) expect(seed.code, seed.output).toBe(0);
    expect(
      [one, other]
        .map((seed) => seed.output.match(/admin@shop\.local (created|already an admin)/)?.[1])
        .sort(),
    ).toEqual(['already an admin', 'created']);
    expect(await prisma.user.count({ where: { email: 'admin@shop.local' } })).toBe(1);
    const admin = await prisma.user.findUniqueOrThrow({ where: { email: 'admin@shop.local' } });
    expect(admin.role).toBe('admin');
    expect(await verifyPassword(admin.passwordHash, 'admin-password-change-me')).toBe(true);
  });
});
