// The whole system as local processes: migrate every database, seed, start the
// services in dependency order and wait until each is ready. `make dev` runs it
// with the developer's databases; end-to-end tests run it with fresh ones.
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { migrateDeploy } from './migrate.js';
import { runDir } from './paths.js';
import { runSeeds, type SeedOptions } from './seed.js';
import { ServiceProcess } from './service-process.js';
import {
  type DatabaseService,
  databaseServices,
  environmentOf,
  type ServiceName,
  type StackSettings,
  serviceNames,
} from './services.js';

export interface StackOptions extends StackSettings {
  watch?: boolean;
  /** How the services run (ServiceProcessOptions.runtime); source by default. */
  runtime?: 'source' | 'compiled';
  /** Flags for node per service (ServiceProcessOptions.nodeArgs). */
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
  /** Pretty-printed logs to a stream (per service), or raw JSON logs into files in this directory. */
  logs: { pretty: (name: ServiceName) => Writable } | { dir: string };
  seed?: SeedOptions | false;
  /** Called as each phase starts, for progress output. */
  onProgress?: (message: string) => void;
}

export class Stack {
  readonly #processes = new Map<ServiceName, ServiceProcess>();

  constructor(readonly options: StackOptions) {
    for (const name of serviceNames) {
      this.#processes.set(
        name,
        new ServiceProcess({
          name,
          env: environmentOf(name, options),
          port: options.ports[name],
          watch: options.watch ?? false,
          ...(options.runtime ? { runtime: options.runtime } : {}),
          ...(options.nodeArgs?.[name] ? { nodeArgs: options.nodeArgs[name] } : {}),
          log:
            'dir' in options.logs
              ? { file: join(options.logs.dir, `${name}.log`) }
              : { stream: options.logs.pretty(name) },
        }),
      );
    }
  }

  service(name: ServiceName): ServiceProcess {
    return this.#processes.get(name)!;
  }

  url(name: ServiceName): string {
    return this.service(name).url;
  }

  async migrate(): Promise<void> {
    const progress = this.options.onProgress ?? (() => undefined);
    progress(`applying migrations of ${databaseServices.join(', ')}`);
    await Promise.all(
      databaseServices.map((name: DatabaseService) => migrateDeploy(name, this.options.databases[name])),
    );
  }

  async start({ migrate = true }: { migrate?: boolean } = {}): Promise<void> {
    const progress = this.options.onProgress ?? (() => undefined);
    if (migrate) await this.migrate();
    if (this.options.seed !== false) {
      progress('seeding the admin account and demo products');
      await runSeeds(this.options, this.options.seed ?? {});
    }
    await this.#requireFreePorts();
    progress(`starting ${serviceNames.join(', ')}`);
    for (const process of this.#processes.values()) process.start();
    try {
      await Promise.all([...this.#processes.values()].map((process) => process.waitReady()));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  // A port held by something else (often a stack left running) would make a
  // service fail to listen while readiness probes reach the stranger instead.
  // The services of a runner that just died may still be stopping (their
  // graceful shutdown, see ServiceProcess): give them that long to let go.
  async #requireFreePorts(waitMs = 20_000): Promise<void> {
    const deadline = Date.now() + waitMs;
    let taken: ServiceName[] = [];
    for (;;) {
      taken = (
        await Promise.all(
          serviceNames.map(async (name) => ((await portInUse(this.options.ports[name])) ? name : undefined)),
        )
      ).filter((name) => name !== undefined);
      if (taken.length === 0 || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (taken.length > 0) {
      const list = taken.map((name) => `${name} (127.0.0.1:${this.options.ports[name]})`).join(', ');
      throw new Error(
        `ports already in use: ${list}. Is another \`make dev\` running? Stop it, or find the process with \`ss -ltnp\`.`,
      );
    }
  }

  /** Kills a service without warning (a crash), as `kill -9` would. */
  crash(name: ServiceName): void {
    this.service(name).kill('SIGKILL');
  }

  /** Starts a stopped or crashed service again and waits until it is ready. */
  async restart(name: ServiceName): Promise<void> {
    const process = this.service(name);
    if (process.running) await process.stop();
    else await process.exited();
    process.start();
    await process.waitReady();
  }

  /** Stops every service gracefully, the gateway first and the provider last. Resolves with their exit codes. */
  async stop(): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {};
    for (const name of [...serviceNames].reverse()) {
      codes[name] = await this.service(name).stop();
    }
    for (const process of this.#processes.values()) await process.close();
    return codes;
  }
}

export function defaultLedgerFile(): string {
  return join(runDir, 'payment-provider', 'ledger.jsonl');
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
