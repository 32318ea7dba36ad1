// The compiled runtime (ServiceProcessOptions.runtime = 'compiled') runs each
// service's dist/ as its image does. This builds dist/ for every service and the
// packages they import, once, before a benchmark or a chaos run starts them.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** `npm run build` for packages/contracts, packages/platform and every folder of services/. */
export async function buildServices(say: (line: string) => void): Promise<void> {
  // npm takes no globs here: every folder of services/, named.
  const services = readdirSync(join(repoRoot, 'services'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `services/${entry.name}`);
  const workspaces = ['packages/contracts', 'packages/platform', ...services];
  say(`building ${workspaces.join(', ')} (npm run build) to run them as their images do`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      'npm',
      ['run', 'build', '--if-present', ...workspaces.map((w) => `--workspace=${w}`)],
      // The build's own output goes to stderr, so a --output json caller keeps stdout clean.
      { cwd: repoRoot, stdio: ['ignore', process.stderr, 'inherit'] },
    );
    child.on('exit', (exitCode) => resolve(exitCode ?? 1));
    child.on('error', () => resolve(1));
  });
  if (code !== 0) throw new Error(`npm run build exited with ${code}`);
}
