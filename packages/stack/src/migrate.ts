// Applying a service's migrations with the real `prisma migrate deploy`, the
// same command the Kubernetes migration Job runs.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

const DONE = /successfully applied|No pending migrations to apply/;

/** Resolves once the CLI reports success (it lingers ~10 s afterwards, which need not be waited for). */
export function migrateDeploy(service: string, databaseUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'node_modules/prisma/build/index.js'), 'migrate', 'deploy'],
      {
        cwd: join(repoRoot, 'services', service),
        env: { ...process.env, DATABASE_URL: databaseUrl, CHECKPOINT_DISABLE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (DONE.test(output)) {
        child.kill();
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      if (DONE.test(output)) resolve();
      else reject(new Error(`prisma migrate deploy for ${service} failed (exit ${code}):\n${output}`));
    });
  });
}
