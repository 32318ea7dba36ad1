import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnoseServices, formatDiagnosis, logProblems } from '../src/chaos-diagnosis.js';

const line = (level: string, msg: string, time: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level, time, service: 'shipping', msg, ...extra });

describe('logProblems', () => {
  it('groups warnings and errors by message, most frequent first, with the last time and error', () => {
    const log = [
      line('info', 'Server listening', '2026-12-06T18:00:00.000Z'),
      line('warn', 'outbox relay failed; retrying', '2026-12-06T18:00:01.000Z', {
        err: { message: 'first' },
      }),
      line('error', 'Crash: KafkaJSError: boom', '2026-12-06T18:00:02.000Z', { error: 'boom' }),
      line('warn', 'outbox relay failed; retrying', '2026-12-06T18:00:03.000Z', {
        err: { message: 'ECONNREFUSED' },
      }),
      'not json {"level":"error"',
    ].join('\n');
    expect(logProblems(log)).toEqual([
      {
        level: 'warn',
        msg: 'outbox relay failed; retrying',
        count: 2,
        last: '2026-12-06T18:00:03.000Z',
        error: 'ECONNREFUSED',
      },
      {
        level: 'error',
        msg: 'Crash: KafkaJSError: boom',
        count: 1,
        last: '2026-12-06T18:00:02.000Z',
        error: 'boom',
      },
    ]);
  });
});

describe('diagnoseServices', () => {
  it('names the failed readiness checks of a service that answers, and says when one does not', async () => {
    const server = createServer((_, response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          status: 'not-ready',
          checks: {
            database: { status: 'up' },
            'consumer:shipping': { status: 'down', error: 'consumer shipping crashed: boom' },
          },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const dir = mkdtempSync(join(tmpdir(), 'diagnosis-'));
    writeFileSync(join(dir, 'shipping.log'), line('error', 'Crash', '2026-12-06T18:00:02.000Z'));
    try {
      const diagnoses = await diagnoseServices([
        { name: 'shipping', url: `http://127.0.0.1:${port}`, logFile: join(dir, 'shipping.log') },
        { name: 'gone', url: 'http://127.0.0.1:9', logFile: join(dir, 'missing.log') },
      ]);
      expect(diagnoses[0]!.readiness).toBe('not-ready: consumer:shipping: consumer shipping crashed: boom');
      expect(diagnoses[1]!.readiness).toMatch(/^no answer/);
      expect(diagnoses[1]!.problems).toEqual([]);
      expect(formatDiagnosis(diagnoses).join('\n')).toContain('error ×1 (last 18:00:02.000) Crash');
    } finally {
      server.close();
    }
  });
});
