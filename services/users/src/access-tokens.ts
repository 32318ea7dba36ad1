// Access tokens: short-lived EdDSA JWTs the gateway verifies against our JWKS.
// They carry only what the gateway needs to act for the user (id and role).
import { SignJWT } from 'jose';
import type { Role } from './domain/account.js';
import { SIGNING_ALG, type SigningKeySet } from './signing-keys.js';

export const TOKEN_ISSUER = 'shop-users';
export const TOKEN_AUDIENCE = 'shop';

export interface AccessTokenClaims {
  iss: typeof TOKEN_ISSUER;
  aud: typeof TOKEN_AUDIENCE;
  sub: string;
  role: Role;
  iat: number;
  exp: number;
}

/** The claims of a token issued at `now` for `ttlSeconds`. */
export function accessTokenClaims(
  user: { id: string; role: Role },
  now: Date,
  ttlSeconds: number,
): AccessTokenClaims {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    sub: user.id,
    role: user.role,
    iat,
    exp: iat + ttlSeconds,
  };
}

export interface IssuedToken {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds until the token expires (OAuth 2.0 `expires_in`). */
  expiresIn: number;
}

export class AccessTokens {
  readonly #ttlSeconds: number;

  constructor(
    private readonly keys: SigningKeySet,
    ttlMs: number,
  ) {
    this.#ttlSeconds = Math.floor(ttlMs / 1000);
  }

  async issue(user: { id: string; role: Role }, now = new Date()): Promise<IssuedToken> {
    const { current } = this.keys;
    const accessToken = await new SignJWT({ ...accessTokenClaims(user, now, this.#ttlSeconds) })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: current.kid, typ: 'JWT' })
      .sign(current.key);
    return { accessToken, tokenType: 'Bearer', expiresIn: this.#ttlSeconds };
  }
}
