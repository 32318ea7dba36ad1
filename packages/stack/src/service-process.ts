// One service as a child process: started the way its image starts it (with
// telemetry loaded first), watched for readiness, stopped with SIGTERM (and
// SIGKILL after the grace period), or killed outright by crash tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { repoRoot } from './paths.js';
import { SERVICE_NODE_FLAGS, type ServiceName } from './services.js';

export interface ServiceProcessOptions {
  name: ServiceName;
  env: Record<string, string>;
  port: number;
  /** Restart on source changes (`make dev`). */
  watch: boolean;
  /**
   * source: TypeScript through tsx (dev and tests); compiled: dist/ JavaScript
   * exactly as the image runs it (`npm run build` first), for figures such as
   * memory that tsx would inflate.
   */
  runtime?: 'source' | 'compiled';
  /**
   * More flags for node itself, before the module (e.g. --cpu-prof, which NODE_OPTIONS refuses),
   * after the service's own (SERVICE_NODE_FLAGS).
   */
  nodeArgs?: string[];
  /** Where the service's log lines go: a pretty printer, or a file for tests. */
  log: { stream: Writable } | { file: string };
}

/**
 * util-linux's setpriv, when this machine has it (Linux): started through it with
 * `--pdeathsig SIGTERM`, a service is told to stop by the kernel the moment the
 * process that started it dies, however it dies (kill -9 included), so nothing
 * is left holding the ports. In watch mode the signal reaches tsx's watcher,
 * which passes it on to the service.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

export class ServiceProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> | undefined;
  #file: WriteStream | undefined;
  #tail: string[] = [];

  constructor(readonly options: ServiceProcessOptions) {}

  get name(): ServiceName {
    return this.options.name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The last lines the service wrote, for failure messages. */
  recentOutput(): string {
    return this.#tail.join('');
  }

  start(): void {
    const { name, env, watch, runtime = 'source', nodeArgs = [] } = this.options;
    const flags = [...(SERVICE_NODE_FLAGS[name] ?? []), ...nodeArgs];
    const args =
      runtime === 'compiled'
        ? [...flags, '--import', '@shop/platform/instrument', 'dist/main.js']
        : [
            // tsx watch hands the flags after `watch` to the service it restarts; before its
            // script they would only reach the watcher.
            ...(watch
              ? [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'watch', '--clear-screen=false', ...flags]
              : [...flags, '--import', 'tsx']),
            '--conditions=source',
            '--import',
            '@shop/platform/instrument',
            'src/main.ts',
          ];
    const [command, commandArgs] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'SIGTERM', '--', process.execPath, ...args]]
      : [process.execPath, args];
    const child = spawn(command, commandArgs, {
      cwd: join(repoRoot, 'services', name),
      env: {
        ...process.env,
        ...env,
        // Flags from the caller's own NODE_OPTIONS (an --inspect, a heap-snapshot signal) come after
        // the service's, so theirs win where both set one.
        NODE_OPTIONS: [env.NODE_OPTIONS, process.env.NODE_OPTIONS].filter(Boolean).join(' '),
        FORCE_COLOR: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a terminal's Ctrl-C reaches the runner, which stops services in order.
      detached: true,
    });
    const sink = this.#sink();
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        this.#remember(chunk.toString());
        sink.write(chunk);
      });
    }
    this.#exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    this.#child = child;
  }

  #sink(): Writable {
    if ('stream' in this.options.log) return this.options.log.stream;
    if (!this.#file) {
      mkdirSync(dirname(this.options.log.file), { recursive: true });
      this.#file = createWriteStream(this.options.log.file, { flags: 'a' });
    }
    return this.#file;
  }

  #remember(text: string): void {
    this.#tail.push(text);
    if (this.#tail.length > 50) this.#tail.splice(0, this.#tail.length - 50);
  }

  /** Waits until /health/ready answers 200, failing early if the process dies. */
  async waitReady(timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`${this.name} exited before it was ready:\n${this.recentOutput()}`);
      }
      try {
        const response = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (response.status === 200) return;
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(
      `${this.name} was not ready within ${timeoutMs} ms (last answer: ${last}):\n${this.recentOutput()}`,
    );
  }

  /** Sends a signal to the service (and, in watch mode, to its watcher's children). */
  kill(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(-pid, signal);
    } catch {
      this.#child?.kill(signal);
    }
  }

  /** Stops gracefully; forces the matter after `graceMs`. Resolves with the exit code. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (!this.running) return this.#child?.exitCode ?? null;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    const code = await this.#exited;
    clearTimeout(timer);
    return code ?? null;
  }

  async exited(): Promise<number | null> {
    return (await this.#exited) ?? null;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.#file ? this.#file.end(resolve) : resolve()));
    this.#file = undefined;
  }
}
