// Readiness: each dependency registers a check; /health/ready runs them all in
// parallel, each under a short deadline, and names the ones that failed.
export type CheckResult = { ok: true; detail?: Record<string, unknown> } | { ok: false; error: string };
/** Throws when the dependency is unusable; an object it returns is shown as detail. */
export type ReadinessCheck = () => Promise<unknown>;

export interface ReadinessReport {
  status: 'ready' | 'not-ready' | 'shutting-down';
  checks: Record<
    string,
    { status: 'up' | 'down'; latencyMs: number; error?: string; [key: string]: unknown }
  >;
}

export class Readiness {
  readonly #checks = new Map<string, { check: ReadinessCheck; critical: boolean }>();
  #shuttingDown = false;

  constructor(private readonly timeoutMs = 1500) {}

  /** A critical check makes the service not ready when it fails; others only report. */
  add(name: string, check: ReadinessCheck, options: { critical?: boolean } = {}): void {
    this.#checks.set(name, { check, critical: options.critical ?? true });
  }

  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, { check, critical }]) => {
        const started = performance.now();
        try {
          const detail = await withTimeout(
            check(),
            this.timeoutMs,
            `${name} did not answer within ${this.timeoutMs} ms`,
          );
          return [
            name,
            critical,
            { status: 'up' as const, latencyMs: elapsed(started), ...(detail ?? {}) },
          ] as const;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          return [
            name,
            critical,
            { status: 'down' as const, latencyMs: elapsed(started), error: message },
          ] as const;
        }
      }),
    );
    const failed = entries.some(([, critical, result]) => critical && result.status === 'down');
    return {
      status: this.#shuttingDown ? 'shutting-down' : failed ? 'not-ready' : 'ready',
      checks: Object.fromEntries(entries.map(([name, , result]) => [name, result])),
    };
  }
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
