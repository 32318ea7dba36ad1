import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const platformDir = fileURLToPath(new URL('..', import.meta.url));

// What a fresh process resolves while it imports the platform and while it follows no color.
const probe = `
import { registerHooks } from 'node:module';
const resolved = new Set();
registerHooks({
  resolve(specifier, context, next) {
    if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) resolved.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
    return next(specifier, context);
  },
});
const platform = await import('@shop/platform');
const outsideAPod = platform.followActiveColor({}, { child: () => ({}) });
process.stdout.write(JSON.stringify({ packages: [...resolved], outsideAPod: outsideAPod ?? null }));
`;

describe('what the platform loads', () => {
  it('does not load the Kubernetes client in a process that follows no color (80 MiB of RSS, 0.3 s of CPU)', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', probe],
      { cwd: platformDir, timeout: 60_000 },
    );
    const { packages, outsideAPod } = JSON.parse(stdout) as { packages: string[]; outsideAPod: unknown };
    // The probe works: the platform's own dependencies show up.
    expect(packages).toEqual(expect.arrayContaining(['fastify', 'kafkajs', 'pg']));
    expect(packages).not.toContain('@kubernetes/client-node');
    expect(outsideAPod).toBeNull();
  });
});
