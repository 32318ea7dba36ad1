import { join } from 'node:path';
import { eventually, runTs } from '@shop/testkit';
import { describe, expect, it } from 'vitest';

const fixture = join(import.meta.dirname, 'fixtures/log-lines.ts');
const lines = (output: string) => output.split('\n').filter((line) => line.includes('"a line"'));

describe('logs on stdout', () => {
  it('are all written when the process exits, however few', async () => {
    const run = runTs(fixture, { LINES: '3', EXIT: 'now' });
    expect((await run.exited).code).toBe(0);
    expect(lines(run.output()).map((line) => JSON.parse(line).line)).toEqual([0, 1, 2]);
  });

  it('do not wait for the buffer to fill while the process runs', async () => {
    const run = runTs(fixture, { LINES: '1', EXIT: 'later' });
    try {
      await eventually(async () => (lines(run.output()).length === 1 ? true : undefined), {
        what: 'the one line on stdout',
        timeoutMs: 10_000,
      });
      expect(JSON.parse(lines(run.output())[0]!)).toMatchObject({
        level: 'info',
        service: 'log-lines',
        line: 0,
      });
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  });

  it('keep their order when many are written at once', async () => {
    const run = runTs(fixture, { LINES: '2000', EXIT: 'now' });
    expect((await run.exited).code).toBe(0);
    const seen = lines(run.output()).map((line) => JSON.parse(line).line);
    expect(seen).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });
});
