// Signing up and signing in. The gateway forwards these without a user; the
// service token it sends is still required (only the JWKS and probes are open).
import { Problem, problems, type ShopServer, text, trimmedText } from '@shop/platform';
import { z } from 'zod';
import type { AccessTokens } from '../access-tokens.js';
import { authenticate, register } from '../accounts.js';
import type { PrismaClient } from '../db.js';
import { displayName, email, normalizeEmail, password, toView, userView } from '../domain/account.js';
import { clearLoginAttempts, countLoginAttempt } from '../login-throttles.js';
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
  /** The time login throttling reads (tests move it). */
  now?: () => Date;
}

/** The same answer whether the password sent was right or wrong: a lock reveals nothing. */
const throttled = (retryAfterSeconds: number) =>
  new Problem(
    429,
    'login-throttled',
    `Too many failed sign-ins for this account; retry in ${retryAfterSeconds} s.`,
    { headers: { 'retry-after': String(retryAfterSeconds) } },
  );

export function authRoutes(
  app: ShopServer,
  { prisma, passwords, tokens, now = () => new Date() }: AuthDeps,
): void {
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
      config: {
        problems: {
          401: 'The email or password is wrong (the answer does not say which).',
          429: 'Too many failed sign-ins for this account lately; no password is checked until `Retry-After` seconds have passed.',
        },
      },
    },
    async (request, reply) => {
      // Per account, whatever the address: counted before the password is checked.
      const account = normalizeEmail(request.body.email);
      const attempt = await countLoginAttempt(prisma, account, now());
      if (!attempt.allowed) throw throttled(attempt.retryAfterSeconds);
      const user = await authenticate(prisma, passwords, request.body);
      // One answer for an unknown email and a wrong password, so neither reveals which it was.
      if (!user) throw problems.unauthorized('The email or password is wrong.');
      await clearLoginAttempts(prisma, account);
      // A bearer token must not be stored by any cache on the way (RFC 6749 5.1).
      reply.header('cache-control', 'no-store');
      return tokens.issue(user);
    },
  );
}
