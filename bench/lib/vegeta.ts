// vegeta, the load generator of the latency run at a fixed rate: an open model,
// every request starts on its schedule whatever the server does, so a slow
// answer cannot hide the requests it would have delayed. autocannon's
// --overallRate is not that: each connection sends its share of a second as
// fast as it is answered and then waits for the next second, so "half the
// capacity" through it is full saturation for half of every second. Built from
// the Go module proxy by scripts/vegeta.sh.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@shop/testkit';
import type { LoadResult } from './autocannon.js';

const run = promisify(execFile);

export interface RateOptions {
  url: string;
  /** Requests per second, spread evenly over each second. */
  rate: number;
  durationSeconds: number;
  /** Most connections it opens (it opens them as needed to keep the rate). */
  connections: number;
  headers?: Record<string, string>;
  /** `taskset -c` list for the load generator itself. */
  cpus?: string;
}

/** The JSON of `vegeta report -type=json`; latencies in nanoseconds. */
interface VegetaReport {
  latencies: { '50th': number; '90th': number; '99th': number; max: number };
  duration: number;
  wait: number;
  requests: number;
  status_codes: Record<string, number>;
}

let binary: Promise<string> | undefined;

/** Builds vegeta the first time (scripts/vegeta.sh caches it); its path. */
function vegetaBinary(): Promise<string> {
  binary ??= run(join(repoRoot, 'scripts/vegeta.sh'), [], { maxBuffer: 1024 * 1024 }).then(({ stdout }) =>
    stdout.trim(),
  );
  return binary;
}

export async function vegeta(options: RateOptions): Promise<LoadResult> {
  const bin = await vegetaBinary();
  const dir = mkdtempSync(join(tmpdir(), 'vegeta-'));
  try {
    const results = join(dir, 'results.bin');
    const target = [
      `GET ${options.url}`,
      ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ];
    const attack = [
      'attack',
      `-rate=${Math.max(1, Math.round(options.rate))}/1s`,
      `-duration=${options.durationSeconds}s`,
      `-max-connections=${options.connections}`,
      '-timeout=10s',
      `-output=${results}`,
    ];
    const [command, args] = options.cpus ? ['taskset', ['-c', options.cpus, bin, ...attack]] : [bin, attack];
    const child = execFile(command, args, { timeout: (options.durationSeconds + 60) * 1000 });
    child.stdin?.end(`${target.join('\n')}\n`);
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`vegeta attack exited with ${code}`)),
      );
    });
    const { stdout } = await run(bin, ['report', '-type=json', results], { maxBuffer: 16 * 1024 * 1024 });
    return parseVegeta(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseVegeta(output: string): LoadResult {
  const report = JSON.parse(output) as VegetaReport;
  const ms = (ns: number) => Math.round((ns / 1e6) * 100) / 100;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  for (const [code, n] of Object.entries(report.status_codes)) {
    if (code === '0') errors += n;
    else if (code.startsWith('2')) ok += n;
    else non2xx += n;
  }
  return {
    requestsPerSecond: ok / ((report.duration + report.wait) / 1e9),
    requests: report.requests,
    p50Ms: ms(report.latencies['50th']),
    p90Ms: ms(report.latencies['90th']),
    p99Ms: ms(report.latencies['99th']),
    maxMs: ms(report.latencies.max),
    non2xx,
    errors,
    timeouts: 0,
  };
}
