// The schema-based API fuzzer, schemathesis, against the whole system through
// the gateway (real Postgres, Kafka, every service): every operation of the
// published /openapi.json, every check, every phase (coverage, fuzzing, and
// the stateful phase that follows the document's links through register,
// login, products, placing and reading an order). It must find nothing: no
// server error, no undocumented status, no schema-valid request refused, no
// schema-violating request accepted. docs/api-fuzzing.md says what each
// setting is for; none excludes an operation or a check.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@shop/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from '../src/index.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

/** Fixed, so a failure can be replayed; the run's length is bounded by time, not by count. */
const SEED = '16';
const MAX_SECONDS = 150;

let system: TestStack;

function withoutForcedColour(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _forced, ...rest } = env;
  return rest;
}
let schemathesis: string;

beforeAll(async () => {
  // Installs into the cache on first use, then only checks a stamp.
  schemathesis = execFileSync(join(repoRoot, 'scripts/schemathesis.sh'), { encoding: 'utf8' }).trim();
  system = await startTestStack('fuzz', { logLevel: 'warn' });
});
afterAll(async () => {
  await system?.stop();
});

it('finds nothing wrong with the API through the gateway', async () => {
  const gateway = system.stack.url('gateway');
  const fuzzDir = join(repoRoot, 'scripts/fuzz');
  const reportDir = join(system.logDir, 'schemathesis');
  mkdirSync(reportDir, { recursive: true });
  const child = spawn(
    schemathesis,
    [
      '--config-file',
      join(fuzzDir, 'schemathesis.toml'),
      'run',
      `${gateway}/openapi.json`,
      '--checks',
      'all',
      '--seed',
      SEED,
      '--max-time',
      String(MAX_SECONDS),
      // One worker: the machine has two cores, and CPython 3.11's AST compiler is not
      // thread-safe under schemathesis's parallel workers ("AST constructor recursion depth mismatch").
      '--workers',
      '1',
      '--report',
      'junit',
      '--report-dir',
      reportDir,
    ],
    {
      cwd: reportDir,
      env: {
        ...withoutForcedColour(process.env),
        // Plain lines for a log: rich reads any FORCE_COLOR (make test sets FORCE_COLOR=0) as
        // "a terminal", and would animate its progress into the log.
        TERM: 'dumb',
        PYTHONPATH: fuzzDir,
        SCHEMATHESIS_HOOKS: 'hooks',
        SHOP_FUZZ_API: gateway,
        SHOP_FUZZ_ADMIN_EMAIL: DEFAULT_ADMIN_EMAIL,
        SHOP_FUZZ_ADMIN_PASSWORD: DEFAULT_ADMIN_PASSWORD,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const log = join(reportDir, 'output.txt');
  writeFileSync(log, output);
  // The phases (with the links the stateful phase covered), the failures if any, the summary.
  const phases = output.slice(0, Math.max(0, output.indexOf('\n===')));
  const failures = output.indexOf('=== FAILURES');
  const summary = output.indexOf('=== SUMMARY');
  const verdict = output.slice(failures >= 0 ? failures : Math.max(summary, 0));
  process.stdout.write(`\n${phases}\n${verdict}\n(full output: ${log})\n`);
  expect(code, `schemathesis exited with ${code}; see the failures above`).toBe(0);
}, 600_000);
