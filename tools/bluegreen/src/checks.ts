// HTTP checks before and after the switch (opt-in: only URLs the user passes are
// ever contacted). A check passes after N consecutive 2xx answers per URL and
// fails after M failures of one URL, or when the deadline passes first.
import http from 'node:http';
import https from 'node:https';
import { throwIfStopped } from './errors.js';

export interface CheckPolicy {
  successes: number;
  failures: number;
  intervalMs: number;
  requestTimeoutMs: number;
  deadlineMs: number;
}

export interface UrlState {
  url: string;
  streak: number;
  failures: number;
  last: string | undefined;
}

export type CheckOutcome = { state: 'running' } | { state: 'passed' } | { state: 'failed'; reason: string };

export function initialCheckState(urls: string[]): UrlState[] {
  return urls.map((url) => ({ url, streak: 0, failures: 0, last: undefined }));
}

export function recordProbe(states: UrlState[], url: string, ok: boolean, what: string): UrlState[] {
  return states.map((s) =>
    s.url !== url
      ? s
      : ok
        ? { ...s, streak: s.streak + 1, last: what }
        : { ...s, streak: 0, failures: s.failures + 1, last: what },
  );
}

export function checkOutcome(
  states: UrlState[],
  policy: Pick<CheckPolicy, 'successes' | 'failures'>,
): CheckOutcome {
  const failed = states.find((s) => s.failures >= policy.failures);
  if (failed)
    return { state: 'failed', reason: `${failed.url}: ${failed.failures} failure(s), last ${failed.last}` };
  if (states.every((s) => s.streak >= policy.successes)) return { state: 'passed' };
  return { state: 'running' };
}

export function checkSummary(states: UrlState[], policy: Pick<CheckPolicy, 'successes'>): string {
  return states
    .map(
      (s) =>
        `${s.url} ${Math.min(s.streak, policy.successes)}/${policy.successes}${s.last ? ` (${s.last})` : ''}`,
    )
    .join(', ');
}

export type Probe = (url: string, timeoutMs: number) => Promise<{ ok: boolean; what: string }>;

/**
 * One GET on a fresh connection (no keep-alive: a pooled socket the server
 * already closed would count as a failure of the service).
 */
export const httpProbe: Probe = (url, timeoutMs) =>
  new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, what: string) => {
      if (settled) return;
      settled = true;
      resolve({ ok, what });
    };
    let request: ReturnType<typeof http.get>;
    try {
      const get = url.startsWith('https:') ? https.get : http.get;
      request = get(
        url,
        { agent: false, timeout: timeoutMs, headers: { 'user-agent': 'bluegreen-check' } },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          res.on('end', () => done(status >= 200 && status < 300, `HTTP ${status}`));
          res.on('error', (error: NodeJS.ErrnoException) => done(false, error.code ?? error.message));
        },
      );
    } catch (error) {
      done(false, (error as Error).message);
      return;
    }
    request.on('timeout', () => {
      request.destroy();
      done(false, `no answer in ${timeoutMs}ms`);
    });
    request.on('error', (error: NodeJS.ErrnoException) => done(false, error.code ?? error.message));
  });

export async function runChecks(
  urls: string[],
  policy: CheckPolicy,
  signal: AbortSignal,
  onProgress: (summary: string) => void,
  probe: Probe = httpProbe,
): Promise<CheckOutcome & { summary: string }> {
  let states = initialCheckState(urls);
  const deadline = Date.now() + policy.deadlineMs;
  for (;;) {
    throwIfStopped(signal);
    const results = await Promise.all(
      states
        .filter((s) => s.streak < policy.successes)
        .map(async (s) => ({ url: s.url, ...(await probe(s.url, policy.requestTimeoutMs)) })),
    );
    for (const r of results) states = recordProbe(states, r.url, r.ok, r.what);
    const summary = checkSummary(states, policy);
    onProgress(summary);
    const outcome = checkOutcome(states, policy);
    if (outcome.state !== 'running') return { ...outcome, summary };
    if (Date.now() + policy.intervalMs > deadline) {
      return {
        state: 'failed',
        reason: `no ${policy.successes} consecutive successes in time (${summary})`,
        summary,
      };
    }
    await sleep(policy.intervalMs, signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
