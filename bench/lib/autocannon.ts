// autocannon, the load generator of the HTTP comparison: closed model, a fixed
// number of connections, its own HdrHistogram of latencies. It runs as its own
// process (its CLI with --json) so it can be pinned to a CPU of its own, away
// from the server under test.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@shop/testkit';

const run = promisify(execFile);

export interface LoadOptions {
  url: string;
  connections: number;
  durationSeconds: number;
  headers?: Record<string, string>;
  /** `taskset -c` list for the load generator itself. */
  cpus?: string;
  /** Requests per second over all connections (an offered rate); without it each connection sends as fast as it is answered. */
  rate?: number;
  timeoutSeconds?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

interface AutocannonJson {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p90: number; p99: number; max: number };
  requests: { total: number; average: number };
}

const cli = join(repoRoot, 'node_modules/autocannon/autocannon.js');

export async function autocannon(options: LoadOptions): Promise<LoadResult> {
  const args = [
    cli,
    '--json',
    '--connections',
    String(options.connections),
    '--duration',
    String(options.durationSeconds),
    '--timeout',
    String(options.timeoutSeconds ?? 10),
    ...(options.rate ? ['--overallRate', String(Math.max(1, Math.round(options.rate)))] : []),
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['--headers', `${name}=${value}`]),
    options.url,
  ];
  const [command, fullArgs] = options.cpus
    ? ['taskset', ['-c', options.cpus, process.execPath, ...args]]
    : [process.execPath, args];
  const { stdout } = await run(command, fullArgs, {
    timeout: (options.durationSeconds + 60) * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAutocannon(stdout);
}

export function parseAutocannon(output: string): LoadResult {
  const json = JSON.parse(output.slice(output.indexOf('{'))) as AutocannonJson;
  return {
    // Completed requests over the measured time, not the per-second sample average (which drops the last partial second).
    requestsPerSecond: json.requests.total / json.duration,
    requests: json.requests.total,
    p50Ms: json.latency.p50,
    p90Ms: json.latency.p90,
    p99Ms: json.latency.p99,
    maxMs: json.latency.max,
    non2xx: json.non2xx,
    errors: json.errors,
    timeouts: json.timeouts,
  };
}
