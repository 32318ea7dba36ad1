// What every command shares: the outcome it hands to the CLI for printing, and
// turning any error into an exit code plus a message that says what to do.
import { BluegreenError, ExitCode, StoppedError } from '../errors.js';
import { explainApiError, type Kube } from '../kube.js';
import type { ServiceLock } from '../lock.js';
import { COLOR_LABEL, objectNames, type Target } from '../names.js';
import type { StepRunner } from '../steps.js';

export interface Outcome {
  exitCode: ExitCode;
  /** The machine-readable result (--output json). */
  data: Record<string, unknown>;
  /** The human-readable result (stdout). */
  text: string[];
  error?: { message: string; hint?: string };
}

export interface GlobalOptions {
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  release?: string;
  output: 'text' | 'json';
}

export function errorOutcome(
  error: unknown,
  kube: Pick<Kube, 'server'> | undefined,
  data: Record<string, unknown>,
  doing: string,
): Outcome {
  if (error instanceof StoppedError) {
    return {
      exitCode: ExitCode.interrupted,
      data: { ...data, result: error.reason.kind === 'lock-lost' ? 'lock-lost' : error.reason.kind },
      text: [],
      error: {
        message: `stopped (${error.message}); traffic was left where it was before this command and the lock was released.`,
        hint: `bluegreen status ${String(data.service ?? '<service>')} shows where things are.`,
      },
    };
  }
  const explained =
    error instanceof BluegreenError
      ? error
      : kube
        ? explainApiError(error, kube, doing)
        : new BluegreenError(ExitCode.other, (error as Error)?.message ?? String(error));
  return {
    exitCode: explained.exitCode,
    data: { ...data, result: 'failed', ...(explained.details ? { details: explained.details } : {}) },
    text: [],
    error: { message: explained.message, ...(explained.hint ? { hint: explained.hint } : {}) },
  };
}

/** The color the active Service selects right now (best effort, for reports after a failure). */
export async function currentActiveColor(kube: Kube, target: Target): Promise<string | undefined> {
  try {
    const svc = await kube.core.readNamespacedService({
      name: objectNames(target).activeService,
      namespace: target.namespace,
    });
    return svc.spec?.selector?.[COLOR_LABEL];
  } catch {
    return undefined;
  }
}

/**
 * After a failure or a stop: release the lock as a visible step when it was held,
 * so the step list does not leave a person wondering whether it still is.
 */
export async function releaseAfterFailure(lock: ServiceLock, steps: StepRunner): Promise<void> {
  if (!lock.isHeld) {
    await lock.release().catch(() => undefined);
    return;
  }
  await steps
    .run('release', () => lock.release())
    .catch((e: Error) =>
      steps.reporter.warn(`could not release the lock: ${e.message} (it expires by itself)`),
    );
}
