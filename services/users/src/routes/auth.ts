// Signing up and signing in. The gateway forwards these without a user; the
// service token it sends is still required (only the JWKS and probes are open).
import { problems, type ShopServer, text, trimmedText } from '@shop/platform';
import { z } from 'zod';
import type { AccessTokens } from '../access-tokens.js';
import { authenticate, register } from '../accounts.js';
import type { PrismaClient } from '../db.js';
import { displayName, email, password, toView, userView } from '../domain/account.js';
import type { PasswordChecker } from '../passwords.js';

const registration = z.object({ email, password, name: displayName });
// Login checks only lengths: a malformed email simply matches no account, and
// the answer must not differ from that of an unknown one.
const credentials = z.object({
  email: trimmedText({ max: 254 }),
  password: text({ min: 1, max: 128 }),
});
const issuedToken = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.int().positive(),
});

export interface AuthDeps {
  prisma: PrismaClient;
  passwords: PasswordChecker;
  tokens: AccessTokens;
}

export function authRoutes(app: ShopServer, { prisma, passwords, tokens }: AuthDeps): void {
  app.post(
    '/api/v1/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a customer account',
        body: registration,
        response: { 201: userView },
      },
      config: {
        problems: { 409: 'An account with this email exists already.' },
        links: {
          201: {
            SignIn: {
              operation: 'POST /api/v1/auth/login',
              description: 'Sign in with the account just made.',
              requestBody: { email: '$request.body#/email', password: '$request.body#/password' },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const user = await register(prisma, request.body);
      return reply.code(201).send(toView(user));
    },
  );

  app.post(
    '/api/v1/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange email and password for an access token',
        body: credentials,
        response: { 200: issuedToken },
      },
      config: { problems: { 401: 'The email or password is wrong (the answer does not say which).' } },
    },
    async (request, reply) => {
      const user = await authenticate(prisma, passwords, request.body);
      // One answer for an unknown email and a wrong password, so neither reveals which it was.
      if (!user) throw problems.unauthorized('The email or password is wrong.');
      // A bearer token must not be stored by any cache on the way (RFC 6749 5.1).
      reply.header('cache-control', 'no-store');
      return tokens.issue(user);
    },
  );
}
