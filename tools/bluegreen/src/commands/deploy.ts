// bluegreen deploy <service> --image <ref>: the new version goes to the idle
// color, which must become fully ready before traffic moves to it.
import type { CheckPolicy } from '../checks.js';
import { runChecks, sleep } from '../checks.js';
import {
  type Context,
  type CutoverResult,
  cutoverEntry,
  movePreview,
  performCutover,
  recordHistory,
} from '../cutover.js';
import { formatDuration } from '../duration.js';
import { BluegreenError, ExitCode, StoppedError, throwIfStopped } from '../errors.js';
import { isInvalid, jsonPatch } from '../kube.js';
import { ServiceLock } from '../lock.js';
import { serviceFrom } from '../model.js';
import { observeService } from '../observe.js';
import { prepareOps, scaleDownOps } from '../patches.js';
import { checkSelectorUnchanged, mayScaleDown, type Plan, planDeploy } from '../plan.js';
import { StepRunner } from '../steps.js';
import { waitReady } from '../wait-ready.js';
import { currentActiveColor, errorOutcome, type Outcome, releaseAfterFailure } from './common.js';

export interface DeployFlags {
  image: string;
  replicas?: number;
  promote: boolean;
  dryRun: boolean;
  timeoutMs: number;
  preChecks: string[];
  postChecks: string[];
  policy: CheckPolicy;
  scaleDownAfterMs?: number;
  endpointsTimeoutMs: number;
}

function planData(plan: Plan) {
  return {
    from: plan.from,
    to: plan.to,
    image: plan.image,
    previousImage: plan.previousImage,
    replicas: plan.replicas,
    steps: plan.steps,
    warnings: plan.warnings,
    lock: plan.lock,
  };
}

export async function deploy(ctx: Context, flags: DeployFlags): Promise<Outcome> {
  const { kube, target, names, reporter } = ctx;
  const started = performance.now();
  const steps = new StepRunner(reporter);
  const base: Record<string, unknown> = {
    command: 'deploy',
    service: target.service,
    namespace: target.namespace,
    release: target.release,
    image: flags.image,
  };
  const options = { ...flags, successes: flags.policy.successes };
  let plan: Plan | undefined;
  let lock: ServiceLock | undefined;
  let tookOverFrom: string | undefined;
  let prepared = false;
  let cutover: CutoverResult | undefined;
  const timings = () => ({ ...steps.timings, totalMs: Math.round(performance.now() - started) });

  try {
    let state = await observeService(kube, target, { readiness: false });
    plan = planDeploy(state, options, ctx.identity, new Date());
    for (const warning of plan.warnings) reporter.warn(warning);
    const idle = state.deployments[plan.to]!;

    if (flags.dryRun) {
      // The API server validates the change (admission included) without storing it.
      await kube.apps.patchNamespacedDeployment(
        {
          name: names.deployments[plan.to],
          namespace: target.namespace,
          body: prepareOps(plan, idle.containerIndex, idle.containerName!),
          dryRun: 'All',
        },
        jsonPatch,
      );
      return {
        exitCode: ExitCode.ok,
        data: { ...base, dryRun: true, result: 'planned', ...planData(plan) },
        text: [
          ...renderPlan(plan),
          'Dry run: nothing was changed (the Deployment change was validated by the API server with dryRun=All).',
        ],
      };
    }

    reporter.plan(plan.steps);
    lock = new ServiceLock(
      kube.coordination,
      kube.kc,
      target,
      names,
      ctx.identity,
      ctx.leaseDurationSeconds,
      `deploy ${target.service} ${flags.image} (since ${new Date().toISOString()})`,
    );
    const held = await steps.run('lock', () => lock!.acquire(), {
      done: (h) =>
        h.tookOverFrom ? `took over the expired lock of ${h.tookOverFrom}` : `held by ${ctx.identity}`,
    });
    tookOverFrom = held.tookOverFrom;
    lock.keep((reason) => ctx.stop(reason));

    // Plan again on what is there now that no other cutover can run.
    state = await observeService(kube, target, { readiness: false });
    const fresh = planDeploy(state, options, ctx.identity, new Date());
    if (fresh.from !== plan.from)
      reporter.warn(`the active color changed to ${fresh.from} meanwhile: deploying to ${fresh.to}`);
    plan = fresh;
    const current = plan;
    const idleNow = state.deployments[current.to]!;

    const generation = await steps.run(
      'prepare',
      async () => {
        throwIfStopped(ctx.signal);
        const active = serviceFrom(
          await kube.core.readNamespacedService({ name: names.activeService, namespace: target.namespace }),
        );
        // Never touch the color that takes traffic: the selector must still point at the other one.
        checkSelectorUnchanged(current, active);
        try {
          const patched = await kube.apps.patchNamespacedDeployment(
            {
              name: names.deployments[current.to],
              namespace: target.namespace,
              body: prepareOps(current, idleNow.containerIndex, idleNow.containerName!),
            },
            jsonPatch,
          );
          prepared = true;
          return patched.metadata?.generation ?? 0;
        } catch (error) {
          if (!isInvalid(error)) throw error;
          throw new BluegreenError(
            ExitCode.precondition,
            `Deployment ${names.deployments[current.to]} changed underneath (its color label or container name): nothing was changed.`,
            `Look at it (kubectl -n ${target.namespace} get deployment ${names.deployments[current.to]} -o yaml) and run the command again.`,
          );
        }
      },
      { done: () => `${names.deployments[current.to]}: ${current.image}, ${current.replicas} replica(s)` },
    );
    if (current.steps.some((s) => s.id === 'preview')) {
      await steps.run('preview', () => movePreview(ctx, current.from, current.to));
    }
    let readyConfirmedAt = 0;
    await steps.run(
      'wait-ready',
      (update) =>
        waitReady(
          kube,
          target,
          current.to,
          { timeoutMs: flags.timeoutMs, minGeneration: generation },
          ctx.signal,
          update,
        ),
      {
        done: (r) => {
          readyConfirmedAt = Date.now();
          return r.summary;
        },
      },
    );

    if (!current.promote) {
      if (flags.preChecks.length > 0) {
        await steps.run(
          'pre-checks',
          async (update) => {
            const outcome = await runChecks(flags.preChecks, flags.policy, ctx.signal, update);
            if (outcome.state === 'failed') {
              throw new BluegreenError(
                ExitCode.notReady,
                `pre-promotion checks failed: ${outcome.reason}. Nothing was switched.`,
                `${names.previewService} serves ${current.to} for a closer look; fix it and deploy again.`,
              );
            }
            return outcome;
          },
          { done: (o) => o.summary },
        );
      }
    } else {
      cutover = await performCutover(
        ctx,
        current,
        lock,
        {
          preChecks: flags.preChecks,
          postChecks: flags.postChecks,
          policy: flags.policy,
          endpointsTimeoutMs: flags.endpointsTimeoutMs,
          switchBackOnFailure: true,
          readyConfirmedAt,
        },
        steps,
      );
    }

    const oldGeneration = current.promote
      ? (
          await kube.apps.readNamespacedDeployment({
            name: names.deployments[current.from],
            namespace: target.namespace,
          })
        ).metadata?.generation
      : undefined;
    await steps.run('release', () => lock!.release());
    lock = undefined;

    let scaleDown: string | undefined;
    if (flags.scaleDownAfterMs !== undefined && current.promote) {
      scaleDown = await scaleDownLater(ctx, current, steps, flags.scaleDownAfterMs, oldGeneration);
    }
    reporter.close();
    const data = {
      ...base,
      result: current.promote ? 'succeeded' : 'ready',
      activeColor: current.promote ? current.to : current.from,
      previewColor: current.promote ? current.from : current.to,
      ...planData(current),
      lock: { holder: ctx.identity, tookOverFrom },
      checks: cutover?.checks,
      scaleDown,
      timings: { ...timings(), cutoverMs: cutover?.cutoverMs },
    };
    const text = current.promote
      ? [
          `${target.service}: ${current.to} now serves ${current.image} (was ${current.from}: ${current.previousImage}).`,
          `  cutover ${formatDuration(cutover?.cutoverMs ?? 0)} (selector patch until the EndpointSlices listed only ${current.to}), total ${formatDuration(data.timings.totalMs)}.`,
          scaleDown
            ? `  ${current.from}: ${scaleDown}`
            : `  ${current.from} keeps running: roll back at once with: bluegreen rollback ${target.service} -n ${target.namespace}`,
        ]
      : [
          `${target.service}: ${current.to} is ready with ${current.image}; ${names.activeService} still serves ${current.from}.`,
          `  preview: Service ${names.previewService}. Switch traffic with: bluegreen promote ${target.service} -n ${target.namespace}`,
        ];
    return { exitCode: ExitCode.ok, data, text };
  } catch (error) {
    const outcome = errorOutcome(error, kube, { ...base, ...(plan ? planData(plan) : {}) }, 'deploying');
    if (prepared && plan && !cutover?.switchedBack && outcome.exitCode !== ExitCode.switchedBack) {
      const result =
        error instanceof StoppedError
          ? error.reason.kind
          : outcome.exitCode === ExitCode.notReady
            ? 'not-ready'
            : outcome.exitCode === ExitCode.precondition
              ? 'conflict'
              : 'failed';
      await recordHistory(ctx, cutoverEntry(ctx, plan, plan.from, plan.to, result, outcome.error?.message));
    }
    if (lock) await releaseAfterFailure(lock, steps);
    reporter.close();
    outcome.data.activeColor = await currentActiveColor(kube, target);
    outcome.data.lock = { holder: ctx.identity, tookOverFrom, released: true };
    outcome.data.timings = timings();
    return outcome;
  }
}

/**
 * The old color stays up for a while so a rollback is one selector flip. Then it
 * is scaled to 0, but only if the active Service does not select it, nobody
 * changed its Deployment since the cutover, and no other cutover holds the lock.
 */
async function scaleDownLater(
  ctx: Context,
  plan: Plan,
  steps: StepRunner,
  afterMs: number,
  generation: number | undefined,
): Promise<string> {
  const { kube, target, names } = ctx;
  return steps.run(
    'scale-down',
    async (update) => {
      const deadline = Date.now() + afterMs;
      while (Date.now() < deadline) {
        if (ctx.signal.aborted) return `left running (stopped before the scale-down)`;
        update(
          `in ${formatDuration(deadline - Date.now())}; the lock is free meanwhile (Ctrl-C keeps ${plan.from} up)`,
        );
        await sleep(Math.min(1000, deadline - Date.now()), ctx.signal);
      }
      if (ctx.signal.aborted) return `left running (stopped before the scale-down)`;
      const lock = new ServiceLock(
        kube.coordination,
        kube.kc,
        target,
        names,
        ctx.identity,
        ctx.leaseDurationSeconds,
        `scale ${plan.from} of ${target.service} to 0`,
      );
      try {
        await lock.acquire();
      } catch (error) {
        if (error instanceof BluegreenError && error.exitCode === ExitCode.lockHeld) {
          return `left running: ${error.message}`;
        }
        throw error;
      }
      try {
        const active = serviceFrom(
          await kube.core.readNamespacedService({ name: names.activeService, namespace: target.namespace }),
        );
        const verdict = mayScaleDown(plan.from, active);
        if (!verdict.ok) return `left running: ${verdict.why}`;
        try {
          await kube.apps.patchNamespacedDeployment(
            {
              name: names.deployments[plan.from],
              namespace: target.namespace,
              body: scaleDownOps(plan.from, generation),
            },
            jsonPatch,
          );
        } catch (error) {
          if (isInvalid(error))
            return `left running: ${names.deployments[plan.from]} changed since the cutover`;
          throw error;
        }
        return `scaled to 0 after ${formatDuration(afterMs)}`;
      } finally {
        await lock.release().catch(() => undefined);
      }
    },
    { done: (r) => r },
  );
}

export function renderPlan(plan: Plan): string[] {
  const lines = [
    `Plan for ${plan.action} of ${plan.target.service} (release ${plan.target.release}, namespace ${plan.target.namespace}): ${plan.from} -> ${plan.to}`,
  ];
  plan.steps.forEach((step, i) => {
    lines.push(`  ${i + 1}. ${step.title}`);
    if (step.detail) lines.push(`     ${step.detail}`);
  });
  for (const warning of plan.warnings) lines.push(`  ! ${warning}`);
  return lines;
}
