import { databaseEnv, duration, kafkaEnv, messagingEnv, serviceEnv } from '@shop/platform';
import type { z } from 'zod';
import { signingKeysEnv } from './signing-keys.js';

/**
 * How long an access token lives. Short, because a token cannot be revoked
 * before it expires except by the gateway's deny-list of deleted users; the
 * bounds keep a typo (`15s` for `15m`, or days) from reaching production.
 */
export const accessTokenTtl = duration.refine(
  (ms) => ms >= 60_000 && ms <= 24 * 60 * 60_000,
  'between 1m and 1440m',
);

export const usersEnv = serviceEnv
  .extend(databaseEnv.shape)
  .extend(kafkaEnv.shape)
  .extend(messagingEnv.shape)
  .extend({
    /** A JSON array of private Ed25519 JWKs with a `kid`: the first signs, all are published. */
    USER_TOKEN_SIGNING_KEYS: signingKeysEnv,
    ACCESS_TOKEN_TTL: accessTokenTtl.prefault('15m'),
  });
export type UsersConfig = z.infer<typeof usersEnv>;
