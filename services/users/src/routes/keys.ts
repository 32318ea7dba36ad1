// The public keys access tokens are verified with. Open to anyone: the gateway
// (and any other verifier) fetches it without a service token.
import type { ShopServer } from '@shop/platform';
import { z } from 'zod';
import type { SigningKeySet } from '../signing-keys.js';

const jwks = z.object({
  keys: z.array(
    z.object({
      kty: z.literal('OKP'),
      crv: z.literal('Ed25519'),
      x: z.string(),
      kid: z.string(),
      alg: z.literal('EdDSA'),
      use: z.literal('sig'),
    }),
  ),
});

/**
 * Verifiers may cache the set this long. A new key must be published for at
 * least this long before it starts signing (README, key rotation).
 */
export const JWKS_MAX_AGE_SECONDS = 300;

export function keyRoutes(app: ShopServer, keys: SigningKeySet): void {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        summary: 'Public keys of the access tokens (JWKS)',
        response: { 200: jwks },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return keys.jwks;
    },
  );
}
