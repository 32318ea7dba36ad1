// The smoke suite (tools/smoke), unchanged, against a whole stack started the
// way `make dev` starts it: the same suite later runs against kind and a release.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@shop/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from '../src/index.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let system: TestStack;

beforeAll(async () => {
  system = await startTestStack('smoke');
});
afterAll(async () => {
  await system?.stop();
});

it('passes the smoke suite through the gateway', async () => {
  const child = spawn(
    process.execPath,
    // TAP, whatever the Node version's default reporter: its summary lines are what is checked below.
    [
      '--conditions=source',
      '--test-reporter=tap',
      '--import',
      'tsx',
      join(repoRoot, 'tools/smoke/src/run.ts'),
    ],
    {
      env: {
        ...process.env,
        SMOKE_BASE_URL: system.stack.url('gateway'),
        SMOKE_PAYMENTS_URL: system.stack.url('payments'),
        SMOKE_ADMIN_EMAIL: DEFAULT_ADMIN_EMAIL,
        SMOKE_ADMIN_PASSWORD: DEFAULT_ADMIN_PASSWORD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  process.stdout.write(
    `${output
      .split('\n')
      .filter((line) => /^(# |ℹ |✔ |✖ |ok |not ok )/.test(line))
      .join('\n')}\n`,
  );
  expect(code, output).toBe(0);
  // TAP's `# fail 0` (Node 20 without a terminal) or the spec reporter's `ℹ fail 0` (Node 24).
  expect(output).toMatch(/^(# |ℹ )fail 0$/m);
  expect(output).toMatch(/^(# |ℹ )skipped 0$/m);
});
