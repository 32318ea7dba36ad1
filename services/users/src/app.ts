// The users HTTP app, built without listening so tests can drive it directly.
import { createServer, type Logger, serviceAuth } from '@shop/platform';
import { AccessTokens } from './access-tokens.js';
import type { PrismaClient } from './db.js';
import { PasswordChecker } from './passwords.js';
import { authRoutes } from './routes/auth.js';
import { keyRoutes } from './routes/keys.js';
import { meRoutes } from './routes/me.js';
import type { SigningKeySet } from './signing-keys.js';

export interface UsersDeps {
  prisma: PrismaClient;
  logger: Logger;
  serviceTokenSecrets: string[];
  signingKeys: SigningKeySet;
  accessTokenTtlMs: number;
  bodyLimit?: number;
  /** The clock of login throttling (tests move it). */
  now?: () => Date;
}

/** Paths served without a service token: probes, metrics, the API description and the public keys. */
export const PUBLIC_PATHS = /^\/(?:health\/|(?:metrics|openapi\.json|\.well-known\/jwks\.json)(?:$|\?))/;

export function buildApp(deps: UsersDeps) {
  const app = createServer({
    name: 'users',
    logger: deps.logger,
    ...(deps.bodyLimit ? { bodyLimit: deps.bodyLimit } : {}),
    openapi: { title: 'shop users', version: '1.0.0', description: 'Accounts and access tokens' },
  });
  app.register(serviceAuth, {
    audience: 'users',
    secrets: deps.serviceTokenSecrets,
    publicPaths: PUBLIC_PATHS,
  });
  const passwords = new PasswordChecker();
  // The dummy hash for unknown emails is made before the first request, not during it.
  app.addHook('onReady', async () => {
    await passwords.warmUp();
  });
  const tokens = new AccessTokens(deps.signingKeys, deps.accessTokenTtlMs);
  app.register(async (scope) =>
    authRoutes(scope, { prisma: deps.prisma, passwords, tokens, ...(deps.now ? { now: deps.now } : {}) }),
  );
  app.register(async (scope) => meRoutes(scope, deps.prisma));
  app.register(async (scope) => keyRoutes(scope, deps.signingKeys));
  return app;
}
