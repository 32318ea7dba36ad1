// Verifying the users service's access tokens: EdDSA JWTs checked against its
// published key set for issuer, audience and expiry. A verified token is
// remembered until it expires, so a client's next request costs a map lookup
// instead of a signature check; the deny-list is consulted on every request.
import type { ActingUser } from '@shop/platform';
import { errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { z } from 'zod';

export type AuthFailure = 'missing' | 'malformed' | 'invalid' | 'expired' | 'revoked' | 'unavailable';

export type Verification = { ok: true; user: ActingUser } | { ok: false; failure: AuthFailure };

const claims = z.object({ sub: z.uuid(), role: z.enum(['customer', 'admin']) });

export interface AccessTokensOptions {
  /** A key resolver: `createRemoteJWKSet(<users>/.well-known/jwks.json)` in the process. */
  jwks: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  clockToleranceSeconds?: number;
  /** Verified tokens remembered; beyond this the oldest are forgotten. */
  cacheSize?: number;
  now?: () => number;
}

interface Verified {
  user: ActingUser;
  expiresAt: number;
}

export class AccessTokens {
  readonly #options: Required<Omit<AccessTokensOptions, 'jwks'>> & { jwks: JWTVerifyGetKey };
  readonly #verified = new Map<string, Verified>();

  constructor(options: AccessTokensOptions) {
    this.#options = { clockToleranceSeconds: 5, cacheSize: 20_000, now: Date.now, ...options };
  }

  /** The answer for a token verified before, without waiting; undefined for a token not seen yet. */
  known(token: string): Verification | undefined {
    const cached = this.#verified.get(token);
    if (!cached) return undefined;
    if (cached.expiresAt > this.#options.now()) return { ok: true, user: cached.user };
    this.#verified.delete(token);
    return { ok: false, failure: 'expired' };
  }

  async verify(token: string): Promise<Verification> {
    const known = this.known(token);
    if (known) return known;
    const { jwks, issuer, audience, clockToleranceSeconds } = this.#options;
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience,
        algorithms: ['EdDSA', 'Ed25519'],
        clockTolerance: clockToleranceSeconds,
        requiredClaims: ['sub', 'exp'],
      });
      const parsed = claims.safeParse(payload);
      if (!parsed.success) return { ok: false, failure: 'invalid' };
      const user: ActingUser = { id: parsed.data.sub, role: parsed.data.role };
      this.#remember(token, { user, expiresAt: (payload.exp! + clockToleranceSeconds) * 1000 });
      return { ok: true, user };
    } catch (error) {
      return { ok: false, failure: this.#failureOf(error) };
    }
  }

  #remember(token: string, verified: Verified): void {
    if (this.#verified.size >= this.#options.cacheSize) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.#verified.keys().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.set(token, verified);
  }

  #failureOf(error: unknown): AuthFailure {
    if (error instanceof errors.JWTExpired) return 'expired';
    // The keys could not be had: that is our outage, not a bad token.
    if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'unavailable';
    if (!(error instanceof errors.JOSEError)) return 'unavailable';
    const loaded = (this.#options.jwks as { jwks?: () => unknown }).jwks?.();
    if (error.code === 'ERR_JOSE_GENERIC' && loaded === undefined) return 'unavailable';
    return 'invalid';
  }
}

/** The token of an `Authorization: Bearer <token>` header; null without one, undefined when malformed. */
export function bearerToken(header: string | undefined): string | null | undefined {
  if (header === undefined) return null;
  const match = /^Bearer +([\w-]+\.[\w-]+\.[\w-]+) *$/i.exec(header);
  return match ? match[1] : undefined;
}
