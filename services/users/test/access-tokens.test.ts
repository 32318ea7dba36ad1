import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { AccessTokens, accessTokenClaims } from '../src/access-tokens.js';
import { type PrivateSigningJwk, signingKeySet } from '../src/signing-keys.js';
import { freshKeys } from './support.js';

const user = { id: '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d', role: 'customer' as const };

describe('access tokens', () => {
  it('carry issuer, audience, subject, role and an expiry ttl after issue', () => {
    expect(accessTokenClaims(user, new Date('2026-01-01T00:00:00.900Z'), 900)).toEqual({
      iss: 'shop-users',
      aud: 'shop',
      sub: user.id,
      role: 'customer',
      iat: 1_767_225_600,
      exp: 1_767_225_600 + 900,
    });
  });

  it('are EdDSA JWTs signed by the first key and verifiable with the published set', async () => {
    const keys = signingKeySet(await freshKeys(2));
    const issued = await new AccessTokens(keys, 15 * 60_000).issue(user);
    expect(issued).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(decodeProtectedHeader(issued.accessToken)).toEqual({
      alg: 'EdDSA',
      kid: keys.current.kid,
      typ: 'JWT',
    });
    const { payload } = await jwtVerify(issued.accessToken, createLocalJWKSet(keys.jwks), {
      issuer: 'shop-users',
      audience: 'shop',
      algorithms: ['EdDSA'],
    });
    expect(payload).toMatchObject({ sub: user.id, role: 'customer' });
    expect(payload.exp! - payload.iat!).toBe(900);
  });

  it('stop verifying once their key is no longer published', async () => {
    const [old, next] = (await freshKeys(2)) as [PrivateSigningJwk, PrivateSigningJwk];
    const token = (await new AccessTokens(signingKeySet([old]), 60_000).issue(user)).accessToken;
    const verify = (published: PrivateSigningJwk[]) =>
      jwtVerify(token, createLocalJWKSet(signingKeySet(published).jwks), { audience: 'shop' });
    await expect(verify([next, old])).resolves.toBeTruthy();
    await expect(verify([next])).rejects.toThrow(/no applicable key/i);
  });
});
