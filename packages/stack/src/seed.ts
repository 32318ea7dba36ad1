// Seeding runs each service's own idempotent seed script (the admin account in
// users, demo products in inventory) with that service's environment.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { environmentOf, type ServiceName, type StackSettings } from './services.js';

export interface SeedOptions {
  adminEmail?: string;
  adminPassword?: string;
}

export const DEFAULT_ADMIN_EMAIL = 'admin@shop.local';
export const DEFAULT_ADMIN_PASSWORD = 'admin-password-change-me';

function runSeed(service: ServiceName, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/seed.ts'], {
      cwd: join(repoRoot, 'services', service),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`seeding ${service} failed (exit ${code}):\n${output}`)),
    );
  });
}

export async function runSeeds(settings: StackSettings, options: SeedOptions): Promise<void> {
  await Promise.all([
    runSeed('users', {
      ...environmentOf('users', settings),
      SEED_ADMIN_EMAIL: options.adminEmail ?? process.env.SEED_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL,
      SEED_ADMIN_PASSWORD: options.adminPassword ?? process.env.SEED_ADMIN_PASSWORD ?? DEFAULT_ADMIN_PASSWORD,
    }),
    runSeed('inventory', environmentOf('inventory', settings)),
  ]);
}
