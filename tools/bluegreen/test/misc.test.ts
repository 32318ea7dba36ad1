import { describe, expect, it } from 'vitest';
import { checkOutcome, initialCheckState, recordProbe, runChecks } from '../src/checks.js';
import { formatDuration, parseDuration } from '../src/duration.js';
import { ExitCode } from '../src/errors.js';
import { parseHistory, prependCutover } from '../src/history.js';
import type { Cutover } from '../src/model.js';
import { objectNames, pointerSegment } from '../src/names.js';
import { switchOps } from '../src/patches.js';
import { PlainReporter } from '../src/progress.js';

describe('durations', () => {
  it('parses what people type', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2')).toBe(2000);
    expect(parseDuration('1.5s')).toBe(1500);
  });

  it('rejects the rest as a usage error', () => {
    for (const bad of ['', 'soon', '5 m', '5x', '-1s']) {
      expect(() => parseDuration(bad)).toThrow(expect.objectContaining({ exitCode: ExitCode.usage }));
    }
  });

  it('formats for people', () => {
    expect(formatDuration(312)).toBe('312ms');
    expect(formatDuration(4200)).toBe('4.2s');
    expect(formatDuration(125_000)).toBe('2m5s');
  });
});

describe('names (the conventions)', () => {
  it('derives every object name from release and service', () => {
    expect(objectNames({ namespace: 'n', release: 'shop', service: 'users' })).toEqual({
      deployments: { blue: 'shop-users-blue', green: 'shop-users-green' },
      activeService: 'shop-users',
      previewService: 'shop-users-preview',
      lease: 'shop-users-bluegreen',
      history: 'shop-users-bluegreen-history',
      consumers: 'shop-users-consumers',
    });
    expect(pointerSegment('shop.example/color')).toBe('shop.example~1color');
  });
});

describe('the switch patch', () => {
  it('tests the whole selector, replaces only the color key, records the cutover', () => {
    const cutover: Cutover = {
      from: 'blue',
      to: 'green',
      at: 't',
      by: 'me',
      images: {},
      result: 'switching',
    };
    const selector = { 'app.kubernetes.io/name': 'users', 'shop.example/color': 'blue' };
    expect(
      switchOps({ service: 's', expectedSelector: selector, to: 'green', hadAnnotations: true, cutover }),
    ).toEqual([
      { op: 'test', path: '/spec/selector', value: selector },
      { op: 'replace', path: '/spec/selector/shop.example~1color', value: 'green' },
      { op: 'add', path: '/metadata/annotations/shop.example~1last-cutover', value: JSON.stringify(cutover) },
    ]);
    // No annotations yet: the whole map is added, guarded by the resourceVersion of that read.
    const ops = switchOps({
      service: 's',
      expectedSelector: selector,
      to: 'green',
      hadAnnotations: false,
      resourceVersion: '42',
      cutover,
    });
    expect(ops[0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '42' });
    expect(ops[3]).toEqual({
      op: 'add',
      path: '/metadata/annotations',
      value: { 'shop.example/last-cutover': JSON.stringify(cutover) },
    });
  });
});

describe('history', () => {
  const entry = (n: number): Cutover => ({
    from: 'blue',
    to: 'green',
    at: String(n),
    by: 'me',
    images: {},
    result: 'succeeded',
  });

  it('keeps the newest first and at most 50', () => {
    let history: Cutover[] = [];
    for (let i = 0; i < 60; i += 1) history = prependCutover(history, entry(i));
    expect(history).toHaveLength(50);
    expect(history[0]!.at).toBe('59');
    expect(history[49]!.at).toBe('10');
  });

  it('reads garbage as empty rather than failing', () => {
    expect(parseHistory(undefined)).toEqual([]);
    expect(parseHistory('{')).toEqual([]);
    expect(parseHistory('{"a":1}')).toEqual([]);
  });
});

describe('checks', () => {
  const policy = { successes: 2, failures: 2 };

  it('passes after N consecutive successes per URL; a failure resets the streak', () => {
    let s = initialCheckState(['a', 'b']);
    s = recordProbe(s, 'a', true, '200');
    s = recordProbe(s, 'a', false, '500');
    s = recordProbe(s, 'a', true, '200');
    s = recordProbe(s, 'b', true, '200');
    s = recordProbe(s, 'b', true, '200');
    expect(checkOutcome(s, policy)).toEqual({ state: 'running' });
    s = recordProbe(s, 'a', true, '200');
    expect(checkOutcome(s, policy)).toEqual({ state: 'passed' });
  });

  it('fails after M failures of one URL', () => {
    let s = initialCheckState(['a']);
    s = recordProbe(s, 'a', false, 'HTTP 500');
    s = recordProbe(s, 'a', true, 'HTTP 200');
    s = recordProbe(s, 'a', false, 'HTTP 500');
    expect(checkOutcome(s, policy)).toMatchObject({
      state: 'failed',
      reason: expect.stringContaining('HTTP 500'),
    });
  });

  it('runs rounds with an injected probe until an outcome', async () => {
    const answers = [true, false, true, true];
    const outcome = await runChecks(
      ['u'],
      { successes: 2, failures: 3, intervalMs: 1, requestTimeoutMs: 10, deadlineMs: 1000 },
      new AbortController().signal,
      () => undefined,
      async () => {
        const ok = answers.shift() ?? false;
        return { ok, what: ok ? 'HTTP 200' : 'HTTP 500' };
      },
    );
    expect(outcome.state).toBe('passed');
  });

  it('fails at the deadline', async () => {
    const outcome = await runChecks(
      ['u'],
      { successes: 5, failures: 100, intervalMs: 5, requestTimeoutMs: 10, deadlineMs: 30 },
      new AbortController().signal,
      () => undefined,
      async () => ({ ok: false, what: 'ECONNREFUSED' }),
    );
    expect(outcome).toMatchObject({ state: 'failed', reason: expect.stringContaining('in time') });
  });
});

describe('plain progress', () => {
  it('writes timestamped lines per step', () => {
    let out = '';
    const reporter = new PlainReporter({
      write: (s: string) => {
        out += s;
        return true;
      },
    } as unknown as NodeJS.WritableStream);
    reporter.plan([{ id: 'a', title: 'Take the lock' }]);
    reporter.start('a');
    reporter.finish('a', 'done', 'held');
    reporter.close();
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z start Take the lock$/);
    expect(lines[2]).toMatch(/done {2}Take the lock \(\d+ms\): held$/);
  });
});

describe('httpProbe (loopback only)', () => {
  it('answers ok for 2xx, not for 5xx, refused or silent servers', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.writeHead(req.url === '/ok' ? 204 : 500).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const { httpProbe } = await import('../src/checks.js');
      expect(await httpProbe(`http://127.0.0.1:${port}/ok`, 1000)).toEqual({ ok: true, what: 'HTTP 204' });
      expect(await httpProbe(`http://127.0.0.1:${port}/bad`, 1000)).toEqual({ ok: false, what: 'HTTP 500' });
      expect(await httpProbe(`http://127.0.0.1:${port}/slow`, 200)).toEqual({
        ok: false,
        what: 'no answer in 200ms',
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const { httpProbe } = await import('../src/checks.js');
    expect(await httpProbe(`http://127.0.0.1:${port}/ok`, 1000)).toEqual({ ok: false, what: 'ECONNREFUSED' });
  });
});
