// The part deploy, promote and rollback share: checks, the compare-and-swap
// switch, the proof on the EndpointSlices, post-promotion checks and the
// automatic switch back, and the record on the cluster. Once the selector has
// moved, any failure or stop request (Ctrl-C, `bluegreen abort`) moves it back:
// a command either finishes or leaves traffic where it found it.
import { type CheckPolicy, runChecks } from './checks.js';
import { formatDuration } from './duration.js';
import { BluegreenError, ExitCode, StoppedError, type StopReason, throwIfStopped } from './errors.js';
import { appendHistory } from './history.js';
import { explainApiError, type Kube, mergePatch } from './kube.js';
import type { ServiceLock } from './lock.js';
import type { Cutover } from './model.js';
import { serviceFrom } from './model.js';
import { COLOR_LABEL, type Color, LAST_CUTOVER_ANNOTATION, type ObjectNames, type Target } from './names.js';
import { observeReadiness } from './observe.js';
import { checkSelectorUnchanged, type Plan, serviceChangedError } from './plan.js';
import type { Reporter } from './progress.js';
import { canTakeTraffic } from './readiness.js';
import type { StepRunner } from './steps.js';
import { switchSelector, verifyEndpoints, watchEndpoints } from './switch-traffic.js';

export interface Context {
  kube: Kube;
  target: Target;
  names: ObjectNames;
  reporter: Reporter;
  /** Aborted by Ctrl-C / SIGTERM, `bluegreen abort` or a lost lock. */
  signal: AbortSignal;
  /** Asks the running command to stop (the lock calls it on `bluegreen abort` or when lost). */
  stop: (reason: StopReason) => void;
  /** Who, for history and the Lease: user@host. */
  actor: string;
  /** The Lease's holderIdentity: the actor and this process. */
  identity: string;
  leaseDurationSeconds: number;
}

export interface CutoverOptions {
  preChecks: string[];
  postChecks: string[];
  policy: CheckPolicy;
  endpointsTimeoutMs: number;
  /** deploy/promote: a failed verification switches back (exit 4). rollback: it reports. */
  switchBackOnFailure: boolean;
  /** When the target color was last seen fully ready (Date.now()). */
  readyConfirmedAt?: number;
}

export interface CutoverResult {
  switched: boolean;
  switchedBack: boolean;
  /** From just before the selector patch until the EndpointSlices listed only the new color. */
  cutoverMs?: number;
  switchBackMs?: number;
  checks?: { pre?: string; post?: string };
}

function images(plan: Plan): Cutover['images'] {
  return { [plan.from]: plan.imageOfFrom, [plan.to]: plan.image } as Cutover['images'];
}

export function cutoverEntry(
  ctx: Context,
  plan: Plan,
  from: Color,
  to: Color,
  result: string,
  message?: string,
): Cutover {
  return {
    action: plan.action,
    from,
    to,
    at: new Date().toISOString(),
    by: ctx.actor,
    images: images(plan),
    result,
    ...(message ? { message } : {}),
  };
}

/** Best effort and bounded: the history must never keep a failing command from exiting. */
export async function recordHistory(ctx: Context, entry: Cutover): Promise<void> {
  try {
    await Promise.race([
      appendHistory(ctx.kube.core, ctx.target, ctx.names, entry),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 5000).unref()),
    ]);
  } catch (error) {
    ctx.reporter.warn(
      `could not record the cutover in ConfigMap ${ctx.names.history}: ${(error as Error).message}`,
    );
  }
}

export async function performCutover(
  ctx: Context,
  plan: Plan,
  lock: ServiceLock,
  options: CutoverOptions,
  steps: StepRunner,
): Promise<CutoverResult> {
  const { kube, target, names } = ctx;
  const result: CutoverResult = { switched: false, switchedBack: false, checks: {} };
  const policy = options.policy;

  if (options.preChecks.length > 0) {
    await steps.run(
      'pre-checks',
      async (update) => {
        const outcome = await runChecks(options.preChecks, policy, ctx.signal, update);
        result.checks!.pre = outcome.summary;
        if (outcome.state === 'failed') {
          throw new BluegreenError(
            ExitCode.notReady,
            `pre-promotion checks failed: ${outcome.reason}. Nothing was switched: ${names.activeService} stays on ${plan.from}.`,
            `${names.previewService} serves ${plan.to} for a closer look; fix it and deploy again.`,
          );
        }
        return outcome;
      },
      { done: (o) => o.summary },
    );
  }

  let switchStarted = 0;
  // Following the EndpointSlices starts now, so the proof after the switch is a
  // matter of the next watch event rather than of new list requests.
  const endpoints = watchEndpoints(kube, target, plan.to, plan.replicas);
  try {
    await steps.run(
      'switch',
      async (update) => {
        throwIfStopped(ctx.signal);
        update(`checking the lock, ${plan.to} and ${names.activeService} once more`);
        // The fence (we still hold the lock, nobody asked us to stop), and fresh
        // reads of the target color and the selector, all at once.
        // Skipped when they were just confirmed (saves round-trips on the critical path).
        const recheck = Date.now() - (options.readyConfirmedAt ?? 0) > 1000;
        const [, readiness, fresh] = await Promise.all([
          lock.renewedWithin(1000) ? undefined : lock.renew().catch(() => undefined),
          recheck ? observeReadiness(kube, target, plan.to) : undefined,
          kube.core
            .readNamespacedService({ name: names.activeService, namespace: target.namespace })
            .then(serviceFrom),
        ]);
        throwIfStopped(ctx.signal);
        if (!lock.isHeld) {
          throw new BluegreenError(
            ExitCode.other,
            'lost the lock before the switch: nothing was switched',
            'Run the command again.',
          );
        }
        const verdict = readiness ? canTakeTraffic(readiness) : ({ ok: true } as const);
        if (!verdict.ok) {
          throw new BluegreenError(
            plan.action === 'deploy' ? ExitCode.notReady : ExitCode.precondition,
            `not switching to ${plan.to}: ${verdict.why}. Nothing was switched.`,
            `bluegreen status ${target.service} shows why.`,
          );
        }
        checkSelectorUnchanged(plan, fresh);
        update(`patching ${names.activeService}`);
        switchStarted = performance.now();
        const outcome = await switchSelector(
          kube,
          target,
          {
            service: names.activeService,
            expectedSelector: plan.expectedSelector,
            to: plan.to,
            hadAnnotations: true,
            cutover: cutoverEntry(ctx, plan, plan.from, plan.to, 'switching'),
          },
          fresh,
        );
        if (!outcome.ok) throw serviceChangedError(plan, outcome.changed);
        result.switched = true;
      },
      { done: () => `${names.activeService} selects ${COLOR_LABEL}=${plan.to}` },
    );
  } catch (error) {
    endpoints.stop();
    throw error;
  }

  try {
    await steps.run(
      'verify-endpoints',
      async (update) => {
        try {
          return await endpoints.until(options.endpointsTimeoutMs, ctx.signal, update);
        } catch (error) {
          if (error instanceof BluegreenError && !options.switchBackOnFailure) {
            throw new BluegreenError(ExitCode.other, error.message, error.hint);
          }
          throw error;
        } finally {
          endpoints.stop();
        }
      },
      { done: (v) => `${v.verdict.summary} after ${formatDuration(performance.now() - switchStarted)}` },
    );
    result.cutoverMs = Math.round(performance.now() - switchStarted);
    // Off the critical path: the preview Service now shows the old color.
    await movePreview(ctx, plan.to, plan.from);

    if (options.postChecks.length > 0) {
      await steps.run(
        'post-checks',
        async (update) => {
          const outcome = await runChecks(options.postChecks, policy, ctx.signal, update);
          result.checks!.post = outcome.summary;
          if (outcome.state === 'failed') {
            throw new BluegreenError(
              ExitCode.switchedBack,
              `post-promotion checks failed: ${outcome.reason}`,
            );
          }
          return outcome;
        },
        { done: (o) => o.summary },
      );
    }
  } catch (error) {
    // A stop request always restores the traffic we found; a failed verification
    // does for deploy/promote (rollback reports it instead: it was the way back).
    const stopped = error instanceof StoppedError;
    const failedVerification = error instanceof BluegreenError && error.exitCode === ExitCode.switchedBack;
    if (!stopped && !(failedVerification && options.switchBackOnFailure)) throw error;
    const why = error instanceof StoppedError ? error.message : (error as Error).message;
    result.switchBackMs = await switchBack_(ctx, plan, steps, why);
    result.switchedBack = true;
    if (error instanceof StoppedError) {
      throw new StoppedError({ ...error.reason, message: `${error.message}; switched back to ${plan.from}` });
    }
    throw new BluegreenError(
      ExitCode.switchedBack,
      `${(error as Error).message}. Switched back: ${names.activeService} selects ${plan.from} again.`,
      `${names.previewService} now serves ${plan.to} for a closer look; fix it and deploy again.`,
      { switchedBackTo: plan.from },
    );
  }

  await steps.run(
    'record',
    async () => {
      const entry = cutoverEntry(ctx, plan, plan.from, plan.to, 'succeeded');
      // A merge patch of one annotation: it cannot touch the selector.
      const annotate = kube.core
        .patchNamespacedService(
          {
            name: names.activeService,
            namespace: target.namespace,
            body: { metadata: { annotations: { [LAST_CUTOVER_ANNOTATION]: JSON.stringify(entry) } } },
          },
          mergePatch,
        )
        .catch((error: Error) =>
          ctx.reporter.warn(`could not update the last-cutover annotation: ${error.message}`),
        );
      await Promise.all([annotate, recordHistory(ctx, entry)]);
    },
    { done: () => `${names.history}` },
  );
  return result;
}

export async function movePreview(ctx: Context, expected: Color, to: Color): Promise<void> {
  const { kube, target, names } = ctx;
  try {
    const preview = serviceFrom(
      await kube.core.readNamespacedService({ name: names.previewService, namespace: target.namespace }),
    );
    if (preview.selector[COLOR_LABEL] === to) return;
    const outcome = await switchSelector(kube, target, {
      service: names.previewService,
      expectedSelector: preview.selector,
      to,
      hadAnnotations: true,
    });
    if (!outcome.ok)
      ctx.reporter.warn(
        `preview Service ${names.previewService} changed underneath (${outcome.changed}); left as is`,
      );
  } catch (error) {
    ctx.reporter.warn(
      `could not point ${names.previewService} at ${to} (expected it on ${expected}): ${(error as Error).message}`,
    );
  }
}

/**
 * Moves the selector back to `plan.from` after a failed verification or a stop
 * request. Runs to the end even when stopped again (Ctrl-C twice force-quits).
 */
async function switchBack_(ctx: Context, plan: Plan, steps: StepRunner, why: string): Promise<number> {
  const { kube, target, names } = ctx;
  const never = new AbortController().signal;
  ctx.reporter.warn(`switching back to ${plan.from}: ${why}`);
  return steps.run(
    'switch-back',
    async (update) => {
      const readiness = await observeReadiness(kube, target, plan.from);
      const verdict = canTakeTraffic(readiness);
      if (!verdict.ok) {
        throw new BluegreenError(
          ExitCode.other,
          `${why}; and cannot switch back: ${plan.from} ${verdict.why}. Traffic stays on ${plan.to}.`,
          `Bring ${plan.from} up (kubectl -n ${target.namespace} scale deployment ${names.deployments[plan.from]} --replicas=N) and run bluegreen rollback ${target.service}.`,
        );
      }
      const started = performance.now();
      const outcome = await switchSelector(kube, target, {
        service: names.activeService,
        expectedSelector: { ...plan.expectedSelector, [COLOR_LABEL]: plan.to },
        to: plan.from,
        hadAnnotations: true,
        cutover: cutoverEntry(ctx, plan, plan.to, plan.from, 'switched-back', why),
      });
      if (!outcome.ok) {
        throw new BluegreenError(
          ExitCode.precondition,
          `${why}; and the switch back failed because ${names.activeService} changed underneath (${outcome.changed}); it was left as is.`,
          `Look at it: bluegreen status ${target.service}.`,
        );
      }
      await movePreview(ctx, plan.from, plan.to);
      update(`waiting for the EndpointSlices to list only ${plan.from}`);
      try {
        await verifyEndpoints(kube, target, plan.from, readiness.counts.desired, 30_000, never, update);
      } catch (error) {
        ctx.reporter.warn(
          `after switching back: ${explainApiError(error, kube, 'verifying endpoints').message}`,
        );
      }
      await recordHistory(ctx, cutoverEntry(ctx, plan, plan.to, plan.from, 'switched-back', why));
      return Math.round(performance.now() - started);
    },
    {
      title: `Switch back to ${plan.from}`,
      done: (ms) => `${names.activeService} selects ${plan.from} again (${formatDuration(ms)})`,
    },
  );
}
