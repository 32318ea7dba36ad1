// 6. Start-up and idle memory of each service, as its image runs it: compiled,
//    telemetry loaded, tracing at the chart's production sampling and exporting
//    to a local OTLP receiver. With the rest of the shop up, each service in
//    turn is stopped and started again, `rounds` times: the time from spawning
//    the process to /health/ready answering 200 (polled every 20 ms), and the
//    CPU the process used meanwhile. Then, 10 s after the last of them is
//    ready, every service's resident memory (idle). The peak under load is the
//    order benchmark's (orders.ts).
import type { Server } from 'node:http';
import { join } from 'node:path';
import { type ServiceName, serviceNames } from '@shop/stack';
import { productionSampling } from './gateway.js';
import { otlpReceiver } from './lib/otlp-receiver.js';
import { startBenchStack } from './lib/stack.js';
import { type Repeated, repeated } from './lib/stats.js';
import { cpuSecondsOf, memoryOf } from './lib/system.js';

export interface StartupOptions {
  runDir: string;
  prefix: string;
  rounds: number;
  runtime: 'source' | 'compiled';
  say: (line: string) => void;
}

export interface ServiceStartup {
  service: ServiceName;
  /** Spawn to /health/ready answering 200, in ms. */
  readyMs: Repeated;
  /** CPU the process used until it was ready, in seconds. */
  cpuSeconds: Repeated;
  /** Resident memory 10 s after every service was ready, in MiB. */
  idleMiB: number;
}

export interface StartupReport {
  setup: Record<string, unknown>;
  services: ServiceStartup[];
  tracing: { exportRequests: number; exportBytes: number };
}

const IDLE_AFTER_MS = 10_000;

export async function startupBenchmark(options: StartupOptions): Promise<StartupReport> {
  const { say } = options;
  const receiver = await otlpReceiver();
  const servers: Server[] = [receiver.server];
  const sampling = productionSampling();
  say('startup: starting the shop with tracing as in production');
  const system = await startBenchStack({
    label: 'startup',
    logDir: join(options.runDir, 'startup', 'logs'),
    prefix: options.prefix,
    runtime: options.runtime,
    env: {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      ...sampling,
    },
  });
  try {
    const runs = new Map<ServiceName, { readyMs: number; cpuSeconds: number }[]>(
      serviceNames.map((name) => [name, []]),
    );
    for (let round = 1; round <= options.rounds; round++) {
      for (const name of serviceNames) {
        const service = system.stack.service(name);
        await service.stop();
        const spawned = performance.now();
        service.start();
        await readyWithin(service.url, 120_000, () => service.running);
        const readyMs = performance.now() - spawned;
        const cpuSeconds = cpuSecondsOf(service.pid ?? -1);
        runs.get(name)!.push({ readyMs, cpuSeconds });
        say(
          `startup: round ${round}/${options.rounds} ${name.padEnd(16)} ready in ${Math.round(readyMs)} ms, ${cpuSeconds.toFixed(2)} s CPU`,
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, IDLE_AFTER_MS));
    const pids = system.pids();
    const services = serviceNames.map((name): ServiceStartup => {
      const list = runs.get(name)!;
      return {
        service: name,
        readyMs: repeated(list.map((r) => r.readyMs)),
        cpuSeconds: repeated(list.map((r) => r.cpuSeconds)),
        idleMiB: memoryOf(pids[name])?.rssMiB ?? Number.NaN,
      };
    });
    say(`startup: idle RSS ${services.map((s) => `${s.service} ${Math.round(s.idleMiB)}`).join(', ')} MiB`);
    return {
      setup: {
        runtime:
          options.runtime === 'compiled'
            ? 'compiled: node --import @shop/platform/instrument dist/main.js, as in the images'
            : 'source: TypeScript through tsx, as make dev runs it',
        tracing: `OTEL_TRACES_SAMPLER=${sampling.OTEL_TRACES_SAMPLER} ${sampling.OTEL_TRACES_SAMPLER_ARG} (the chart's values.yaml), OTLP/HTTP protobuf to a local receiver that counts`,
        rounds: options.rounds,
        readiness:
          'spawn of the process to GET /health/ready answering 200, polled every 20 ms; the rest of the shop up',
        cpu: 'utime + stime of the process from /proc when it was first ready',
        memory: `VmRSS from /proc, ${IDLE_AFTER_MS / 1000} s after the last service was ready, no requests but the probes`,
        logging: 'LOG_LEVEL=info, JSON to a file',
      },
      services,
      tracing: { exportRequests: receiver.stats().requests, exportBytes: receiver.stats().bytes },
    };
  } finally {
    await system.stop();
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  }
}

async function readyWithin(baseUrl: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`${baseUrl} exited before it was ready`);
    try {
      const response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${baseUrl} was not ready within ${timeoutMs} ms`);
}
