// Prints the failed tests of a vitest JSON report (--reporter=json), one line each
// with the first line of its error, so make test's summary names what failed:
// the end of a CI log is often all that is shown of it.
// Usage: node scripts/lib/failed-tests.mjs REPORT.json
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const MAX_TESTS = 20;
const firstLine = (text) =>
  String(text ?? '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.length > 0)
    ?.slice(0, 240) ?? '';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const lines = [];
for (const file of report.testResults ?? []) {
  const path = relative(process.cwd(), file.name);
  const failed = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
  for (const test of failed)
    lines.push(`${path} > ${test.fullName}\n        ${firstLine(test.failureMessages?.[0])}`);
  // A file can fail without a failed test: an error in a hook, or while importing it.
  if (failed.length === 0 && file.status === 'failed')
    lines.push(`${path} (the file itself)\n        ${firstLine(file.message)}`);
}
if (lines.length === 0) lines.push('no failed test in the report: an unhandled error? see the log above');
for (const line of lines.slice(0, MAX_TESTS)) console.log(`  ${line}`);
if (lines.length > MAX_TESTS) console.log(`  ... and ${lines.length - MAX_TESTS} more`);
