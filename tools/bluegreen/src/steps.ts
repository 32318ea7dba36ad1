// Runs one step of a plan with visible progress and records how long it took.
import { StoppedError } from './errors.js';
import type { Reporter } from './progress.js';

export class StepRunner {
  readonly timings: Record<string, number> = {};

  constructor(readonly reporter: Reporter) {}

  async run<T>(
    id: string,
    work: (update: (detail: string) => void) => Promise<T>,
    options: { title?: string; done?: (result: T) => string | undefined } = {},
  ): Promise<T> {
    this.reporter.start(id, options.title);
    const started = performance.now();
    try {
      const result = await work((detail) => this.reporter.update(id, detail));
      this.timings[id] = Math.round(performance.now() - started);
      this.reporter.finish(id, 'done', options.done?.(result));
      return result;
    } catch (error) {
      this.timings[id] = Math.round(performance.now() - started);
      const stopped = error instanceof StoppedError;
      this.reporter.finish(
        id,
        stopped ? 'skipped' : 'failed',
        stopped ? `stopped: ${error.message}` : firstLine(error),
      );
      throw error;
    }
  }

  skip(id: string, why: string): void {
    this.reporter.finish(id, 'skipped', why);
  }
}

function firstLine(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  return message.split('\n')[0] ?? message;
}
