import { join } from 'node:path';
import { Writable } from 'node:stream';
import { eventually, runTs } from '@shop/testkit';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type Logger, loggerOptions, REDACTED_PATHS } from '../src/logging.js';

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

describe('secrets in log lines', () => {
  const written = (log: (logger: Logger) => void) => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).trim().split('\n'));
        done();
      },
    });
    log(pino(loggerOptions({ name: 'redaction' }), destination));
    return lines.map((line) => JSON.parse(line));
  };

  it('are censored under every name the redaction lists', () => {
    const [line] = written((logger) =>
      logger.info(
        {
          password: 'hunter2',
          token: 'tok',
          body: { email: 'a@example.com', password: 'hunter2', token: 'tok' },
          req: { method: 'GET', headers: { authorization: 'Bearer x', cookie: 'c=1', accept: '*/*' } },
          headers: { authorization: 'Bearer y', cookie: 'c=2' },
        },
        'with secrets',
      ),
    );
    expect(line).toMatchObject({
      password: '[redacted]',
      token: '[redacted]',
      body: { email: 'a@example.com', password: '[redacted]', token: '[redacted]' },
      req: { method: 'GET', headers: { authorization: '[redacted]', cookie: '[redacted]', accept: '*/*' } },
      headers: { authorization: '[redacted]', cookie: '[redacted]' },
    });
    expect(JSON.stringify(line)).not.toMatch(/hunter2|Bearer|tok"/);
    expect(REDACTED_PATHS.some((path) => path.includes('*'))).toBe(false);
  });

  it('leave the fields of an access-log line as they are', () => {
    const [line] = written((logger) =>
      logger.info({ method: 'GET', url: '/api/v1/products?token=', status: 200, durationMs: 1.5 }, 'done'),
    );
    expect(line).toMatchObject({
      method: 'GET',
      url: '/api/v1/products?token=',
      status: 200,
      durationMs: 1.5,
    });
  });
});
