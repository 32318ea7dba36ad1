// Every failure the CLI reports carries the exit code a script acts on and a hint
// saying what to do next.

export const ExitCode = {
  ok: 0,
  other: 1,
  usage: 2,
  notReady: 3,
  switchedBack: 4,
  lockHeld: 5,
  precondition: 6,
  /** Ctrl-C, SIGTERM or `bluegreen abort`: stopped, traffic where it was (128 + SIGINT, as shells do). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_HELP = `Exit codes:
  0    done
  1    anything else (API error, lost the lock, ...)
  2    usage error (unknown flag, bad value, several releases and no --release)
  3    the new color did not become ready in time, crash-looped or failed its
       pre-promotion checks: nothing was switched
  4    post-promotion verification failed: traffic was switched back
  5    another cutover of this service holds the lock (the holder is named)
  6    a precondition failed: rollback target not ready, missing objects, the
       Service changed underneath (nothing was overwritten)
  130  interrupted (Ctrl-C, SIGTERM or \`bluegreen abort\`): traffic left where it
       was before the command, lock released`;

export class BluegreenError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(exitCode: ExitCode, message: string, hint?: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'BluegreenError';
    this.exitCode = exitCode;
    this.hint = hint;
    this.details = details;
  }
}

export function usageError(message: string, hint?: string): BluegreenError {
  return new BluegreenError(ExitCode.usage, message, hint);
}

/** The reason an operation was stopped from outside. */
export interface StopReason {
  kind: 'interrupted' | 'aborted' | 'lock-lost';
  message: string;
}

export class StoppedError extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(reason.message);
    this.name = 'StoppedError';
    this.reason = reason;
  }
}

export function stopReasonOf(signal: AbortSignal): StopReason {
  const reason = signal.reason as StopReason | undefined;
  if (reason && typeof reason === 'object' && 'kind' in reason) return reason;
  return { kind: 'interrupted', message: 'interrupted' };
}

export function throwIfStopped(signal: AbortSignal): void {
  if (signal.aborted) throw new StoppedError(stopReasonOf(signal));
}
