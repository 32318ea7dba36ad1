// The trace viewer beside the services (make dev, the end-to-end tests):
// Jaeger v2 as scripts/jaeger.sh builds it, run with the configuration the
// chart runs it with (deploy/helm/shop/files/jaeger.yaml), listening on
// 127.0.0.1 only. The services export OTLP/HTTP to it; a person opens its UI,
// a test reads the same HTTP API the UI reads.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

export interface JaegerPorts {
  /** The UI and the HTTP API it reads. */
  ui: number;
  /** OTLP over HTTP: where the services export. */
  otlpHttp: number;
  /** OTLP over gRPC (the chart's collector uses it; locally nothing does, but it listens). */
  otlpGrpc: number;
  /** The query service's gRPC API (the same: it listens, nothing here uses it). */
  queryGrpc: number;
}

/** make dev's ports, each overridable (SHOP_JAEGER_UI_PORT, ...) for a second checkout on the machine. */
export function defaultJaegerPorts(env: NodeJS.ProcessEnv = process.env): JaegerPorts {
  const port = (name: string, fallback: number) => Number(env[name] ?? fallback);
  return {
    ui: port('SHOP_JAEGER_UI_PORT', 16686),
    otlpHttp: port('SHOP_JAEGER_OTLP_PORT', 14318),
    otlpGrpc: port('SHOP_JAEGER_OTLP_GRPC_PORT', 14317),
    queryGrpc: port('SHOP_JAEGER_QUERY_GRPC_PORT', 16685),
  };
}

export interface JaegerOptions {
  ports: JaegerPorts;
  /** Where Jaeger's own log goes: a pretty printer, or a file for tests. */
  log: { stream: Writable } | { file: string };
  maxTraces?: number;
}

/** One span as Jaeger's HTTP API returns it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  processID: string;
  tags: { key: string; value: unknown }[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export class Jaeger {
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #output = '';

  constructor(readonly options: JaegerOptions) {}

  get uiUrl(): string {
    return `http://127.0.0.1:${this.options.ports.ui}`;
  }

  /** Where services export (OTEL_EXPORTER_OTLP_ENDPOINT). */
  get otlpUrl(): string {
    return `http://127.0.0.1:${this.options.ports.otlpHttp}`;
  }

  /** The variables that make a service export every trace here. */
  exportEnv(): Record<string, string> {
    return {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: this.otlpUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      // One developer looking at their own orders: keep every trace (values-kind.yaml does the same).
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    };
  }

  /** Builds Jaeger if it is not cached yet (minutes, once), starts it and waits for its UI. */
  async start(): Promise<void> {
    const binaries = await jaegerBinaries();
    const { ports, log } = this.options;
    const child = spawn(binaries.JAEGER_BIN, ['--config', binaries.JAEGER_CONFIG], {
      env: {
        ...process.env,
        JAEGER_HOST: '127.0.0.1',
        JAEGER_UI_PORT: String(ports.ui),
        JAEGER_OTLP_HTTP_PORT: String(ports.otlpHttp),
        JAEGER_OTLP_GRPC_PORT: String(ports.otlpGrpc),
        JAEGER_QUERY_GRPC_PORT: String(ports.queryGrpc),
        JAEGER_UI_ASSETS: binaries.JAEGER_UI_ASSETS,
        JAEGER_MAX_TRACES: String(this.options.maxTraces ?? 50_000),
        JAEGER_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.#child = child;
    const sink = 'file' in log ? openLog(log.file) : log.stream;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        this.#output = (this.#output + chunk.toString()).slice(-4000);
        sink.write(chunk);
      });
    }
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await this.#waitForUi();
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  /** A trace by id, as the UI shows it; undefined while Jaeger has none of its spans. */
  async trace(traceId: string): Promise<JaegerTrace | undefined> {
    const response = await fetch(`${this.uiUrl}/api/traces/${traceId}`);
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`Jaeger answered ${response.status} for trace ${traceId}`);
    const body = (await response.json()) as { data: JaegerTrace[] };
    return body.data[0];
  }

  async #waitForUi(): Promise<void> {
    const deadline = Date.now() + 60_000;
    let last = 'no answer';
    while (Date.now() < deadline) {
      const child = this.#child;
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(`Jaeger exited while starting:\n${this.#output}`);
      }
      try {
        const response = await fetch(`${this.uiUrl}/api/services`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) return;
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
      `Jaeger's UI did not answer at ${this.uiUrl} within a minute (last: ${last}):\n${this.#output}`,
    );
  }
}

/** The service names and span kinds of a trace, in the words of Jaeger's API. */
export function servicesOf(trace: JaegerTrace): Set<string> {
  return new Set(trace.spans.map((span) => trace.processes[span.processID]?.serviceName ?? '?'));
}

export function spanKindOf(span: JaegerSpan): string | undefined {
  const tag = span.tags.find((t) => t.key === 'span.kind');
  return typeof tag?.value === 'string' ? tag.value : undefined;
}

/** Where scripts/jaeger.sh put the binary, the UI and the configuration (building them if needed). */
async function jaegerBinaries(): Promise<
  Record<'JAEGER_BIN' | 'JAEGER_UI_ASSETS' | 'JAEGER_CONFIG', string>
> {
  const script = join(repoRoot, 'scripts/jaeger.sh');
  await run(script, ['build'], { maxBuffer: 16 * 1024 * 1024 });
  const { stdout } = await run(script, ['env']);
  const env = Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  for (const key of ['JAEGER_BIN', 'JAEGER_UI_ASSETS', 'JAEGER_CONFIG']) {
    if (!env[key]) throw new Error(`scripts/jaeger.sh env printed no ${key}`);
  }
  return env as Record<'JAEGER_BIN' | 'JAEGER_UI_ASSETS' | 'JAEGER_CONFIG', string>;
}

function openLog(file: string): Writable {
  mkdirSync(dirname(file), { recursive: true });
  return createWriteStream(file, { flags: 'a' });
}
