// What the admin seed reads from the environment. The defaults are for a
// developer's machine only; any shared environment sets its own password.
import { databaseEnv } from '@shop/platform';
import type { z } from 'zod';
import { displayName, email, password } from './domain/account.js';

export const DEFAULT_ADMIN_EMAIL = 'admin@shop.local';
export const DEFAULT_ADMIN_PASSWORD = 'admin-password-change-me';

export const seedEnv = databaseEnv.extend({
  SEED_ADMIN_EMAIL: email.default(DEFAULT_ADMIN_EMAIL),
  SEED_ADMIN_PASSWORD: password.default(DEFAULT_ADMIN_PASSWORD),
  SEED_ADMIN_NAME: displayName.default('Admin'),
});
export type SeedConfig = z.infer<typeof seedEnv>;
