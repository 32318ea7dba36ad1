// `npm run seed -w services/users`: makes sure the admin account exists (created,
// or promoted if a customer holds the email). Idempotent, so the dev runner and
// deploy jobs can run it after every migration.
import { failStartup, loadConfig } from '@shop/platform';
import { seedAdmin } from './accounts.js';
import { createPrisma } from './db.js';
import { DEFAULT_ADMIN_PASSWORD, seedEnv } from './seed-config.js';

try {
  const config = loadConfig(seedEnv);
  const prisma = createPrisma(config.DATABASE_URL, 1);
  try {
    const { action, user } = await seedAdmin(prisma, {
      email: config.SEED_ADMIN_EMAIL,
      password: config.SEED_ADMIN_PASSWORD,
      name: config.SEED_ADMIN_NAME,
    });
    const done = { create: 'created', promote: 'promoted to admin', unchanged: 'already an admin' }[action];
    process.stdout.write(`seed: ${user.email} ${done} (id ${user.id})\n`);
    if (action === 'create' && config.SEED_ADMIN_PASSWORD === DEFAULT_ADMIN_PASSWORD) {
      process.stderr.write(
        'seed: the admin has the default password; set SEED_ADMIN_PASSWORD outside development\n',
      );
    }
  } finally {
    await prisma.$disconnect();
  }
} catch (error) {
  failStartup(error);
}
