// The gateway in front of the real users service (its app on a test database
// with its migrations): sign up and sign in through the gateway, then use the
// access token the users service issued, verified against its published JWKS.
import { createServiceDatabase, type TestDatabase } from '@shop/testkit';
import { createRemoteJWKSet } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../users/src/db.js';
import { freshKeys, newcomer, usersApp } from '../../users/test/support.js';
import { startGateway, startUpstream } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;
let users: ReturnType<typeof usersApp>;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let inventory: Awaited<ReturnType<typeof startUpstream>>;

beforeAll(async () => {
  db = await createServiceDatabase('users');
  prisma = createPrisma(db.url, 4);
  users = usersApp(prisma, await freshKeys(2));
  const usersUrl = await users.listen({ host: '127.0.0.1', port: 0 });
  inventory = await startUpstream('inventory', ['/api/v1/products']);
  gateway = await startGateway({
    jwks: createRemoteJWKSet(new URL('/.well-known/jwks.json', usersUrl)),
    upstreams: {
      users: usersUrl,
      inventory: inventory.url,
      orders: inventory.url,
      notifications: inventory.url,
      shipping: inventory.url,
    },
  });
});

afterAll(async () => {
  await gateway?.close();
  await inventory?.close();
  await users?.close();
  await prisma?.$disconnect();
  await db?.drop();
});

const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, token?: string) => {
  const response = await request(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, json: text ? JSON.parse(text) : null };
};

describe('with the real users service', () => {
  it('signs up and in through the gateway and acts with the issued token', async () => {
    const account = newcomer();
    const registered = await call('POST', '/api/v1/auth/register', account);
    expect(registered.status).toBe(201);

    const wrong = await call('POST', '/api/v1/auth/login', {
      email: account.email,
      password: 'not it at all',
    });
    expect(wrong.status).toBe(401);

    const login = await call('POST', '/api/v1/auth/login', {
      email: account.email,
      password: account.password,
    });
    expect(login.status).toBe(200);
    expect(login.headers['cache-control']).toBe('no-store');
    const token = login.json.accessToken as string;

    expect((await call('GET', '/api/v1/users/me')).status).toBe(401);
    const me = await call('GET', '/api/v1/users/me', undefined, token);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({
      id: registered.json.id,
      email: account.email.toLowerCase(),
      role: 'customer',
    });

    expect((await call('DELETE', '/api/v1/users/me', undefined, token)).status).toBe(204);
    // The users service itself refuses the deleted account (the deny-list does so at the gateway).
    expect((await call('GET', '/api/v1/users/me', undefined, token)).status).toBe(401);
  });

  it("publishes the users service's routes in the merged document, minus its JWKS", async () => {
    const doc = (await call('GET', '/openapi.json')).json;
    expect(doc['x-upstreams'].users).toBe('fresh');
    expect(doc.paths['/api/v1/auth/login'].post.security).toEqual([]);
    expect(doc.paths['/api/v1/auth/register'].post.security).toEqual([]);
    expect(doc.paths['/api/v1/users/me'].get.security).toBeUndefined();
    expect(doc.paths['/.well-known/jwks.json']).toBeUndefined();
  });
});
