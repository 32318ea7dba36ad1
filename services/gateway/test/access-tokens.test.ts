import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { AccessTokens, bearerToken } from '../src/access-tokens.js';
import { accessToken, signingKey } from './support.js';

describe('access tokens', () => {
  it('accepts a users-service token and names the user', async () => {
    const key = await signingKey();
    const tokens = new AccessTokens({
      jwks: createLocalJWKSet({ keys: [key.jwk] }),
      issuer: 'shop-users',
      audience: 'shop',
    });
    const id = randomUUID();
    expect(await tokens.verify(await accessToken({ key, sub: id, role: 'admin' }))).toEqual({
      ok: true,
      user: { id, role: 'admin' },
    });
  });

  it('says why a token is refused', async () => {
    const key = await signingKey();
    const other = await signingKey();
    const tokens = new AccessTokens({
      jwks: createLocalJWKSet({ keys: [key.jwk] }),
      issuer: 'shop-users',
      audience: 'shop',
    });
    const past = Math.floor(Date.now() / 1000) - 60;
    const cases: [string, string][] = [
      [await accessToken({ key, expiresIn: past }), 'expired'],
      [await accessToken({ key, aud: 'other' }), 'invalid'],
      [await accessToken({ key, iss: 'other' }), 'invalid'],
      [await accessToken({ key: other }), 'invalid'],
      [await accessToken({ key, role: 'superuser' }), 'invalid'],
      [await accessToken({ key, sub: 'not-a-uuid' }), 'invalid'],
      ['a.b.c', 'invalid'],
    ];
    for (const [token, failure] of cases) expect(await tokens.verify(token)).toEqual({ ok: false, failure });
  });

  it('reports an unreachable key set as unavailable, not as a bad token', async () => {
    const key = await signingKey();
    const unreachable: JWTVerifyGetKey = async () => {
      throw new TypeError('fetch failed');
    };
    const tokens = new AccessTokens({ jwks: unreachable, issuer: 'shop-users', audience: 'shop' });
    expect(await tokens.verify(await accessToken({ key }))).toEqual({ ok: false, failure: 'unavailable' });
  });

  it('checks a signature once per token and forgets the token when it expires', async () => {
    const key = await signingKey();
    const local = createLocalJWKSet({ keys: [key.jwk] });
    let lookups = 0;
    const counting: JWTVerifyGetKey = (header, token) => {
      lookups++;
      return local(header, token);
    };
    let now = Date.now();
    const tokens = new AccessTokens({
      jwks: counting,
      issuer: 'shop-users',
      audience: 'shop',
      now: () => now,
      cacheSize: 2,
    });
    const token = await accessToken({ key, expiresIn: '60s' });
    for (let i = 0; i < 5; i++) expect((await tokens.verify(token)).ok).toBe(true);
    expect(lookups).toBe(1);
    now += 70_000;
    expect(await tokens.verify(token)).toEqual({ ok: false, failure: 'expired' });
    // The cache is bounded: the oldest token is dropped and verified again later.
    now = Date.now();
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => accessToken({ key })));
    for (const t of [a!, b!, c!, a!]) await tokens.verify(t);
    expect(lookups).toBe(5);
  });

  it('reads only well-formed bearer headers', () => {
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Bearer aaa.bbb.ccc')).toBe('aaa.bbb.ccc');
    expect(bearerToken('bearer aaa.bbb.ccc')).toBe('aaa.bbb.ccc');
    expect(bearerToken('Basic dXNlcg==')).toBeUndefined();
    expect(bearerToken('Bearer ')).toBeUndefined();
    expect(bearerToken('Bearer a.b')).toBeUndefined();
    expect(bearerToken('Bearer a.b.c d')).toBeUndefined();
  });
});
