// The account API against a real database with the service's migrations.
import { hash } from '@node-rs/argon2';
import { parseMessage } from '@shop/contracts';
import { asGateway, createServiceDatabase, type TestDatabase } from '@shop/testkit';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../src/db.js';
import { ARGON2_OPTIONS, needsRehash } from '../src/passwords.js';
import { freshKeys, newcomer, usersApp } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;
let app: ReturnType<typeof usersApp>;

beforeAll(async () => {
  db = await createServiceDatabase('users');
  prisma = createPrisma(db.url, 4);
  app = usersApp(prisma, await freshKeys(1));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await prisma.$disconnect();
  await db.drop();
});

const post = async (url: string, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url, headers: await asGateway('users'), payload });
const register = (body: Record<string, unknown>) => post('/api/v1/auth/register', body);
const login = (body: Record<string, unknown>) => post('/api/v1/auth/login', body);
/** What the gateway does after verifying an access token: act for its subject with its role. */
const asUser = async (accessToken: string) => {
  const { sub, role } = decodeJwt(accessToken) as { sub: string; role: 'customer' | 'admin' };
  return asGateway('users', { id: sub, role });
};
const me = async (accessToken: string, method: 'GET' | 'DELETE' = 'GET') =>
  app.inject({ method, url: '/api/v1/users/me', headers: await asUser(accessToken) });
const outboxOf = async (userId: string) =>
  (await prisma.outboxMessage.findMany({ where: { key: userId }, orderBy: { id: 'asc' } })).map((row) => {
    const parsed = parseMessage(JSON.stringify(row.payload));
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(row.type).toBe(parsed.message.type);
    expect(row.topic).toBe('users.events');
    expect(row.messageId).toBe(parsed.message.id);
    return parsed.message;
  });

describe('accounts API', () => {
  it('registers, signs in, answers /users/me and deletes the account', async () => {
    const body = newcomer({ email: 'Grace.Hopper@Example.COM', name: ' Grace Hopper ' });
    const created = await register(body);
    expect(created.statusCode).toBe(201);
    const user = created.json();
    expect(user).toEqual({
      id: expect.any(String),
      email: 'grace.hopper@example.com',
      name: 'Grace Hopper',
      role: 'customer',
    });

    const signedIn = await login({ email: 'grace.hopper@EXAMPLE.com', password: body.password });
    expect(signedIn.statusCode).toBe(200);
    expect(signedIn.headers['cache-control']).toBe('no-store');
    const token = signedIn.json();
    expect(token).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });

    const mine = await me(token.accessToken);
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toEqual(user);

    expect((await me(token.accessToken, 'DELETE')).statusCode).toBe(204);
    const row = await prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row.deletedAt).toBeInstanceOf(Date);
    expect(row).toMatchObject({ email: `deleted+${user.id}@invalid`, name: '', passwordHash: '' });
  });

  it('refuses an email taken in any case with 409, and writes nothing', async () => {
    const body = newcomer({ email: 'linus@example.com' });
    expect((await register(body)).statusCode).toBe(201);
    const before = await prisma.user.count();
    const outboxBefore = await prisma.outboxMessage.count();
    for (const email of ['linus@example.com', 'LINUS@example.com', 'Linus@Example.Com']) {
      const duplicate = await register({ ...body, email });
      expect(duplicate.statusCode, email).toBe(409);
      expect(duplicate.headers['content-type']).toContain('application/problem+json');
      expect(duplicate.json()).toMatchObject({ status: 409, type: expect.stringContaining('email-taken') });
    }
    // Spaces around it are not trimmed away: the published pattern is the whole rule.
    expect((await register({ ...body, email: ' linus@example.com ' })).statusCode).toBe(400);
    expect(await prisma.user.count()).toBe(before);
    expect(await prisma.outboxMessage.count()).toBe(outboxBefore);
  });

  it('lets only one of two concurrent registrations of one email through', async () => {
    const body = newcomer();
    const answers = await Promise.all([
      register(body),
      register({ ...body, email: body.email.toUpperCase() }),
    ]);
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([201, 409]);
  });

  it('answers 401 alike for a wrong password and an unknown email, taking about as long', async () => {
    const body = newcomer();
    await register(body);
    const wrong = await login({ email: body.email, password: 'not the password' });
    const unknown = await login({ email: `nobody.${Date.now()}@example.com`, password: body.password });
    for (const answer of [wrong, unknown]) {
      expect(answer.statusCode).toBe(401);
      expect(answer.headers['content-type']).toContain('application/problem+json');
    }
    const strip = (json: Record<string, unknown>) => ({ ...json, requestId: undefined });
    expect(strip(unknown.json())).toEqual(strip(wrong.json()));

    const timed = async (credentials: Record<string, unknown>) => {
      const started = performance.now();
      expect((await login(credentials)).statusCode).toBe(401);
      return performance.now() - started;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const known: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await timed({ email: body.email, password: 'not the password' }));
      missing.push(await timed({ email: `nobody.${i}@example.com`, password: 'not the password' }));
    }
    // An unknown email without the dummy verification would answer ~20x faster than a wrong password.
    expect(median(missing)).toBeGreaterThan(median(known) * 0.5);
  });

  it('upgrades a hash made under older parameters at the next successful login', async () => {
    const body = newcomer();
    const weak = await hash(body.password, { ...ARGON2_OPTIONS, memoryCost: 4096, timeCost: 1 });
    const user = await prisma.user.create({ data: { email: body.email, name: 'Old', passwordHash: weak } });
    expect((await login(body)).statusCode).toBe(200);
    const upgraded = (await prisma.user.findUniqueOrThrow({ where: { id: user.id } })).passwordHash;
    expect(upgraded).not.toBe(weak);
    expect(needsRehash(upgraded)).toBe(false);
    expect((await login(body)).statusCode).toBe(200);
  });

  it('lists every invalid field of a registration and writes nothing', async () => {
    const before = await prisma.user.count();
    const outboxBefore = await prisma.outboxMessage.count();
    const invalid = await register({ email: 'not-an-email', password: 'short', name: '' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.headers['content-type']).toContain('application/problem+json');
    expect(
      invalid
        .json()
        .errors.map((error: { path: string }) => error.path)
        .sort(),
    ).toEqual(['body.email', 'body.name', 'body.password']);
    const tooLong = await register(newcomer({ password: 'x'.repeat(129), name: 'n'.repeat(101) }));
    expect(tooLong.statusCode).toBe(400);
    expect(
      tooLong
        .json()
        .errors.map((error: { path: string }) => error.path)
        .sort(),
    ).toEqual(['body.name', 'body.password']);
    expect((await register({ email: 'ann@example.com' })).statusCode).toBe(400);
    expect(await prisma.user.count()).toBe(before);
    expect(await prisma.outboxMessage.count()).toBe(outboxBefore);
  });

  it('writes user.registered and user.deleted to the outbox with valid envelopes', async () => {
    const body = newcomer({ name: 'Ada' });
    const user = (await register(body)).json();
    const { accessToken } = (await login(body)).json();
    await me(accessToken, 'DELETE');
    const [registered, deleted, ...rest] = await outboxOf(user.id);
    expect(rest).toEqual([]);
    expect(registered).toMatchObject({
      type: 'user.registered',
      source: 'users',
      key: user.id,
      data: { userId: user.id, email: user.email, name: 'Ada', role: 'customer' },
    });
    expect(deleted).toMatchObject({
      type: 'user.deleted',
      source: 'users',
      key: user.id,
      data: { userId: user.id },
    });
  });

  it('refuses a deleted account: /users/me and a second delete are 401, and the email can be registered again', async () => {
    const body = newcomer();
    const first = (await register(body)).json();
    const { accessToken } = (await login(body)).json();
    expect((await me(accessToken, 'DELETE')).statusCode).toBe(204);

    expect((await me(accessToken)).statusCode).toBe(401);
    expect((await me(accessToken, 'DELETE')).statusCode).toBe(401);
    expect((await login(body)).statusCode).toBe(401);
    expect(await outboxOf(first.id)).toHaveLength(2); // the second delete emitted nothing

    const again = await register(body);
    expect(again.statusCode).toBe(201);
    expect(again.json().id).not.toBe(first.id);
    expect((await login(body)).statusCode).toBe(200);
  });

  it('needs a service token everywhere except the probes, the API description and the JWKS', async () => {
    const anonymous = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: newcomer() });
    expect(anonymous.statusCode).toBe(401);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: await asGateway('users') }))
        .statusCode,
    ).toBe(401);
    const wrongAudience = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: await asGateway('inventory'),
      payload: newcomer(),
    });
    expect(wrongAudience.statusCode).toBe(401);
    for (const url of ['/.well-known/jwks.json', '/openapi.json', '/health/live', '/metrics']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/auth/register',
        '/api/v1/auth/login',
        '/api/v1/users/me',
        '/.well-known/jwks.json',
      ]),
    );
  });
});

describe('access tokens and the JWKS', () => {
  it('verify against the served JWKS with the right claims', async () => {
    const body = newcomer();
    const user = (await register(body)).json();
    const { accessToken, expiresIn } = (await login(body)).json();
    const served = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(served.headers['cache-control']).toBe('public, max-age=300');
    const jwks = served.json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(jwks), {
      issuer: 'shop-users',
      audience: 'shop',
      algorithms: ['EdDSA'],
    });
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: jwks.keys[0].kid });
    expect(payload).toMatchObject({ iss: 'shop-users', aud: 'shop', sub: user.id, role: 'customer' });
    expect(payload.exp! - payload.iat!).toBe(expiresIn);
    expect(payload.exp! * 1000).toBeGreaterThan(Date.now() + 14 * 60_000);
  });

  it('rotate: the first key signs, both are published, and an old key’s tokens verify while it is published', async () => {
    const [older, newer] = await freshKeys(2);
    const body = newcomer();
    await register(body);

    // Before the rotation: only the older key.
    const before = usersApp(prisma, [older!]);
    const oldToken = (
      await before.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: await asGateway('users'),
        payload: body,
      })
    ).json().accessToken;
    await before.close();

    // During: the newer key signs, the older one is still published.
    const during = usersApp(prisma, [newer!, older!]);
    const jwks = (await during.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys.map((key: { kid: string }) => key.kid)).toEqual([newer!.kid, older!.kid]);
    const newToken = (
      await during.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: await asGateway('users'),
        payload: body,
      })
    ).json().accessToken;
    const verifier = createLocalJWKSet(jwks);
    const options = { issuer: 'shop-users', audience: 'shop' };
    expect((await jwtVerify(newToken, verifier, options)).protectedHeader.kid).toBe(newer!.kid);
    expect((await jwtVerify(oldToken, verifier, options)).protectedHeader.kid).toBe(older!.kid);
    await during.close();

    // After: the older key is gone, and so are its tokens.
    const after = usersApp(prisma, [newer!]);
    const afterJwks = createLocalJWKSet(
      (await after.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json(),
    );
    await expect(jwtVerify(oldToken, afterJwks, options)).rejects.toThrow();
    await expect(jwtVerify(newToken, afterJwks, options)).resolves.toBeTruthy();
    await after.close();
  });
});
