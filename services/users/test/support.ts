// Shared by the users tests: signing keys made on the spot and an app on a test database.
import { TEST_SERVICE_SECRET, testLogger } from '@shop/testkit';
import { buildApp } from '../src/app.js';
import type { PrismaClient } from '../src/db.js';
import { generateSigningKey, type PrivateSigningJwk, signingKeySet } from '../src/signing-keys.js';

export const ACCESS_TOKEN_TTL_MS = 15 * 60_000;

export async function freshKeys(count: number): Promise<PrivateSigningJwk[]> {
  const keys: PrivateSigningJwk[] = [];
  // Distinct dates keep the kids apart even if two thumbprints shared a prefix.
  for (let i = 0; i < count; i++) keys.push(await generateSigningKey(new Date(Date.UTC(2026, 0, i + 1))));
  return keys;
}

export function usersApp(prisma: PrismaClient, keys: PrivateSigningJwk[]) {
  return buildApp({
    prisma,
    logger: testLogger(),
    serviceTokenSecrets: [TEST_SERVICE_SECRET],
    signingKeys: signingKeySet(keys),
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
  });
}

let counter = 0;
/** A registration body with an email no other test uses. */
export function newcomer(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    email: `ann.${process.pid}.${counter}.${Date.now()}@example.com`,
    password: 'correct horse battery',
    name: 'Ann Example',
    ...overrides,
  };
}
