// Failed sign-ins throttled per account, in the database: two replicas count
// the same failures, a restart forgets none, a correct password during a lock
// is refused exactly like a wrong one, and a success clears the count.
import {
  asGateway,
  createServiceDatabase,
  TEST_SERVICE_SECRET,
  type TestDatabase,
  testLogger,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createPrisma, type PrismaClient } from '../src/db.js';
import { LOGIN_THROTTLE } from '../src/domain/login-throttle.js';
import { signingKeySet } from '../src/signing-keys.js';
import { ACCESS_TOKEN_TTL_MS, freshKeys, newcomer } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;
let clock = Date.now();
let keys: Awaited<ReturnType<typeof freshKeys>>;
const replicas: ReturnType<typeof buildApp>[] = [];

async function replica() {
  const app = buildApp({
    prisma,
    logger: testLogger(),
    serviceTokenSecrets: [TEST_SERVICE_SECRET],
    signingKeys: signingKeySet(keys),
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    now: () => new Date(clock),
  });
  await app.ready();
  replicas.push(app);
  return app;
}

beforeAll(async () => {
  db = await createServiceDatabase('users');
  prisma = createPrisma(db.url, 4);
  keys = await freshKeys(1);
});
afterAll(async () => {
  await Promise.all(replicas.map((app) => app.close()));
  await prisma.$disconnect();
  await db.drop();
});

const post = async (app: ReturnType<typeof buildApp>, url: string, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url, headers: await asGateway('users'), payload });
const strip = (json: Record<string, unknown>) => ({ ...json, requestId: undefined });

describe('failed sign-ins per account', () => {
  it('are counted across replicas and a restart, and lock the account with 429 and Retry-After', async () => {
    const [a, b] = [await replica(), await replica()];
    const account = newcomer();
    expect((await post(a, '/api/v1/auth/register', account)).statusCode).toBe(201);
    const wrong = { email: account.email, password: 'not the password' };

    // Ten failures, alternating replicas: all 401.
    for (let i = 0; i < LOGIN_THROTTLE.maxFailures; i++) {
      expect((await post(i % 2 ? a : b, '/api/v1/auth/login', wrong)).statusCode).toBe(401);
    }
    // Then the right password is refused exactly like a wrong one.
    const right = await post(a, '/api/v1/auth/login', {
      email: account.email.toUpperCase(),
      password: account.password,
    });
    const guess = await post(b, '/api/v1/auth/login', wrong);
    for (const answer of [right, guess]) {
      expect(answer.statusCode).toBe(429);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.headers['retry-after']).toBe('60');
    }
    expect(strip(right.json())).toEqual(strip(guess.json()));
    expect(right.json()).toMatchObject({
      type: 'https://shop.example/problems/login-throttled',
      status: 429,
    });

    // A replica started afterwards (a restart) knows the lock.
    await a.close();
    const c = await replica();
    expect(
      (await post(c, '/api/v1/auth/login', { email: account.email, password: account.password })).statusCode,
    ).toBe(429);

    // After the lock, ten more failures lock it for twice as long.
    clock += 61_000;
    for (let i = 0; i < LOGIN_THROTTLE.maxFailures; i++) {
      expect((await post(c, '/api/v1/auth/login', wrong)).statusCode).toBe(401);
    }
    const again = await post(b, '/api/v1/auth/login', wrong);
    expect(again.statusCode).toBe(429);
    expect(again.headers['retry-after']).toBe('120');

    // Once it has passed, the right password signs in.
    clock += 121_000;
    expect(
      (await post(c, '/api/v1/auth/login', { email: account.email, password: account.password })).statusCode,
    ).toBe(200);
  });

  it('are cleared by a successful sign-in', async () => {
    const app = await replica();
    const account = newcomer();
    await post(app, '/api/v1/auth/register', account);
    const wrong = { email: account.email, password: 'not the password' };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < LOGIN_THROTTLE.maxFailures - 1; i++) {
        expect((await post(app, '/api/v1/auth/login', wrong)).statusCode).toBe(401);
      }
      expect((await post(app, '/api/v1/auth/login', account)).statusCode).toBe(200);
    }
  });

  it('lock an unknown email the same way, so a lock does not tell whether an account exists', async () => {
    const app = await replica();
    const unknown = { email: `nobody.${Date.now()}@example.com`, password: 'whatever it is' };
    for (let i = 0; i < LOGIN_THROTTLE.maxFailures; i++) {
      expect((await post(app, '/api/v1/auth/login', unknown)).statusCode).toBe(401);
    }
    expect((await post(app, '/api/v1/auth/login', unknown)).statusCode).toBe(429);
  });

  it('are counted one by one when they arrive at once', async () => {
    const [a, b] = [await replica(), await replica()];
    const account = newcomer();
    await post(a, '/api/v1/auth/register', account);
    const wrong = { email: account.email, password: 'not the password' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(i % 2 ? a : b, '/api/v1/auth/login', wrong)),
    );
    const statuses = answers.map((answer) => answer.statusCode);
    expect(statuses.filter((status) => status === 401)).toHaveLength(LOGIN_THROTTLE.maxFailures);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20 - LOGIN_THROTTLE.maxFailures);
  });
});
