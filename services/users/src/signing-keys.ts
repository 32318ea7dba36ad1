// The keys that sign access tokens. They come from configuration as private
// JWKs (Ed25519): the first signs, every one is published in the JWKS, which is
// what lets keys rotate without logging anyone out (see the README).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { z } from 'zod';

const base64url = z.string().regex(/^[\w-]+$/, 'base64url');

export const privateSigningJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: base64url.length(43),
  d: base64url.length(43),
  kid: z.string().regex(/^[\w.-]{1,64}$/, 'a kid of letters, digits, dot, dash or underscore (at most 64)'),
});
export type PrivateSigningJwk = z.infer<typeof privateSigningJwk>;

/** What the JWKS publishes for one key: never `d`. */
export interface PublicSigningJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export const SIGNING_ALG = 'EdDSA';

/** `x` must be the public half of `d`, or every token signed would fail to verify against the JWKS. */
function publicHalfMatches(jwk: PrivateSigningJwk): boolean {
  try {
    const derived = createPublicKey(createPrivateKey({ key: jwk, format: 'jwk' })).export({ format: 'jwk' });
    return derived.x === jwk.x;
  } catch {
    return false;
  }
}

/**
 * USER_TOKEN_SIGNING_KEYS: a JSON array of private JWKs. Error messages never
 * quote the value, so a misconfigured secret does not end up in a log.
 */
export const signingKeysEnv = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'a JSON array of private Ed25519 JWKs (npm run keygen)' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(privateSigningJwk)
      .min(1, 'at least one key; the first signs')
      .refine((keys) => new Set(keys.map((key) => key.kid)).size === keys.length, 'each kid only once')
      .refine((keys) => keys.every(publicHalfMatches), 'each key must be a valid Ed25519 pair (x matches d)'),
  );

export interface SigningKeySet {
  /** The key new tokens are signed with. */
  current: { kid: string; key: KeyObject };
  /** Every configured key's public half, newest signer first. */
  jwks: { keys: PublicSigningJwk[] };
}

export function signingKeySet(keys: readonly PrivateSigningJwk[]): SigningKeySet {
  const [first] = keys;
  if (!first) throw new Error('at least one signing key is required');
  return {
    current: { kid: first.kid, key: createPrivateKey({ key: first, format: 'jwk' }) },
    jwks: { keys: keys.map(publicJwk) },
  };
}

export function publicJwk(key: PrivateSigningJwk): PublicSigningJwk {
  // Listed field by field rather than by removing `d`, so nothing private can slip through.
  return { kty: key.kty, crv: key.crv, x: key.x, kid: key.kid, alg: SIGNING_ALG, use: 'sig' };
}

/**
 * A fresh private signing key. The kid starts with the creation date, so an
 * operator can tell old keys from new in the configuration, and ends with the
 * RFC 7638 thumbprint, so two keys never share one.
 */
export async function generateSigningKey(now = new Date()): Promise<PrivateSigningJwk> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const thumbprint = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x! });
  const date = now.toISOString().slice(0, 10).replaceAll('-', '');
  return privateSigningJwk.parse({ ...jwk, kid: `${date}-${thumbprint.slice(0, 16)}` });
}

/** A value for USER_TOKEN_SIGNING_KEYS holding one fresh key (what a dev runner needs). */
export async function generateSigningKeysEnv(): Promise<string> {
  return JSON.stringify([await generateSigningKey()]);
}
