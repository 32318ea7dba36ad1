// Short-lived service tokens: HS256 JWTs whose audience is the callee, so a
// token minted for inventory is useless against payments. When a service acts
// for a user (the gateway forwarding a customer's request) the token carries
// that user, which is how a service learns who is calling without trusting a
// header a client could forge. Secrets are shared (a Kubernetes Secret);
// several may be configured so they can be rotated: the first signs, any verifies.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { problems } from './problems.js';
import { type ActingUser, setCurrentUser } from './request-context.js';

const ALG = 'HS256';
const actingUser = z.object({ id: z.uuid(), role: z.enum(['customer', 'admin']) });

export interface ServiceCaller {
  service: string;
  user?: ActingUser;
}

interface Key {
  kid: string;
  secret: Uint8Array;
}

function keysOf(secrets: string[]): Key[] {
  if (secrets.length === 0) throw new Error('at least one service token secret is required');
  return secrets.map((secret) => ({
    kid: createHash('sha256').update(secret).digest('hex').slice(0, 12),
    secret: new TextEncoder().encode(secret),
  }));
}

export class ServiceTokens {
  readonly #keys: Key[];
  readonly #cache = new Map<string, { token: string; refreshAt: number }>();

  constructor(
    private readonly issuer: string,
    secrets: string[],
    private readonly ttlSeconds = 60,
  ) {
    this.#keys = keysOf(secrets);
  }

  /** The cached token for `audience`, if one is still fresh: lets hot paths skip an await. */
  cachedToken(audience: string, user?: ActingUser): string | undefined {
    const cached = this.#cache.get(cacheKeyOf(audience, user));
    return cached && cached.refreshAt > Date.now() ? cached.token : undefined;
  }

  /** A token for calling `audience`, reused until a quarter of its life is left. */
  async tokenFor(audience: string, user?: ActingUser): Promise<string> {
    const cacheKey = cacheKeyOf(audience, user);
    const now = Date.now();
    const cached = this.cachedToken(audience, user);
    if (cached) return cached;
    const key = this.#keys[0]!;
    const token = await new SignJWT(user ? { user } : {})
      .setProtectedHeader({ alg: ALG, kid: key.kid })
      .setIssuer(this.issuer)
      .setSubject(this.issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(key.secret);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(cacheKey, { token, refreshAt: now + this.ttlSeconds * 750 });
    return token;
  }
}

const cacheKeyOf = (audience: string, user?: ActingUser) =>
  `${audience}|${user?.id ?? ''}|${user?.role ?? ''}`;

/** How many verified tokens a verifier remembers (callers reuse a token for most of its minute). */
const VERIFIED_TOKENS = 10_000;
const CLOCK_TOLERANCE_S = 5;

export class ServiceTokenVerifier {
  readonly #keys: Key[];
  // A token verified once is the same bytes every time it comes back, so its caller is kept
  // until it expires: the signature check (an async WebCrypto job) was a notable share of every
  // service's CPU per request.
  readonly #verified = new Map<string, { caller: ServiceCaller; expiresAtMs: number }>();

  constructor(
    private readonly audience: string,
    secrets: string[],
  ) {
    this.#keys = keysOf(secrets);
  }

  /** The caller named by a valid token; throws a 401 problem otherwise. */
  async verify(token: string): Promise<ServiceCaller> {
    const known = this.#verified.get(token);
    if (known) {
      if (Date.now() < known.expiresAtMs) return known.caller;
      this.#verified.delete(token);
    }
    for (const key of this.#keys) {
      try {
        const { payload } = await jwtVerify(token, key.secret, {
          algorithms: [ALG],
          audience: this.audience,
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ['iss', 'sub', 'exp'],
        });
        const user = payload.user === undefined ? undefined : actingUser.parse(payload.user);
        const caller = { service: String(payload.sub), ...(user ? { user } : {}) };
        if (this.#verified.size >= VERIFIED_TOKENS) this.#verified.clear();
        this.#verified.set(token, { caller, expiresAtMs: (payload.exp! + CLOCK_TOLERANCE_S) * 1000 });
        return caller;
      } catch (error) {
        if (error instanceof errors.JWSSignatureVerificationFailed) continue;
        throw problems.unauthorized(describeTokenError(error, this.audience));
      }
    }
    throw problems.unauthorized('The service token is not signed by a known key.');
  }
}

function describeTokenError(error: unknown, audience: string): string {
  if (error instanceof errors.JWTExpired) return 'The service token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') {
    return `The service token was not issued for ${audience}.`;
  }
  return 'The service token is invalid.';
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: ServiceCaller | null;
  }
}

export interface ServiceAuthOptions {
  audience: string;
  secrets: string[];
  /** Paths served without a token (probes, metrics, public JWKS). */
  publicPaths?: RegExp;
}

/** Every request must carry a valid service token for this service, except public paths. */
export const serviceAuth = fp(
  async (app: FastifyInstance, options: ServiceAuthOptions) => {
    const verifier = new ServiceTokenVerifier(options.audience, options.secrets);
    const publicPaths = options.publicPaths ?? /^\/(health\/|metrics$|openapi\.json$)/;
    app.decorateRequest('caller', null);
    app.addHook('onRequest', async (request) => {
      if (publicPaths.test(request.url.split('?')[0] ?? '')) return;
      const header = request.headers.authorization;
      const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
      if (!token) throw problems.unauthorized('A service token is required (Authorization: Bearer <token>).');
      request.caller = await verifier.verify(token);
      if (request.caller.user) setCurrentUser(request.caller.user);
    });
  },
  { name: 'shop-service-auth' },
);

/** The user a request acts for; 401 when the caller did not name one. */
export function requireUser(request: FastifyRequest): ActingUser {
  const user = request.caller?.user;
  if (!user) throw problems.unauthorized('This endpoint acts for a signed-in user.');
  return user;
}

export function requireAdmin(request: FastifyRequest): ActingUser {
  const user = requireUser(request);
  if (user.role !== 'admin') throw problems.forbidden('Only an admin may do this.');
  return user;
}
