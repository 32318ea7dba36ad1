// bluegreen promote / rollback: move traffic to the idle color, which must
// already be fully ready. promote finishes a `deploy --no-promote`; rollback
// goes back to the previous version while it is still running.
import type { CheckPolicy } from '../checks.js';
import { type Context, type CutoverResult, performCutover } from '../cutover.js';
import { formatDuration } from '../duration.js';
import { ExitCode } from '../errors.js';
import { readHistory } from '../history.js';
import { ServiceLock } from '../lock.js';
import { observeService } from '../observe.js';
import { type Plan, planSwitch } from '../plan.js';
import { StepRunner } from '../steps.js';
import { currentActiveColor, errorOutcome, type Outcome, releaseAfterFailure } from './common.js';
import { renderPlan } from './deploy.js';

export interface SwitchFlags {
  dryRun: boolean;
  preChecks: string[];
  postChecks: string[];
  policy: CheckPolicy;
  endpointsTimeoutMs: number;
}

export async function switchColor(
  ctx: Context,
  action: 'promote' | 'rollback',
  flags: SwitchFlags,
): Promise<Outcome> {
  const { kube, target, names, reporter } = ctx;
  const started = performance.now();
  const steps = new StepRunner(reporter);
  const base: Record<string, unknown> = {
    command: action,
    service: target.service,
    namespace: target.namespace,
    release: target.release,
  };
  const options = {
    preChecks: flags.preChecks,
    postChecks: action === 'rollback' ? [] : flags.postChecks,
    successes: flags.policy.successes,
  };
  let plan: Plan | undefined;
  let lock: ServiceLock | undefined;
  let tookOverFrom: string | undefined;
  let cutover: CutoverResult | undefined;
  const timings = () => ({ ...steps.timings, totalMs: Math.round(performance.now() - started) });
  const planData = (p: Plan) => ({
    from: p.from,
    to: p.to,
    image: p.image,
    previousImage: p.previousImage,
    replicas: p.replicas,
    steps: p.steps,
    warnings: p.warnings,
    lock: p.lock,
  });

  try {
    const observe = async () => {
      const state = await observeService(kube, target, { readiness: true });
      const history =
        action === 'rollback' ? await readHistory(kube.core, target, names).catch(() => []) : [];
      return planSwitch(state, action, options, ctx.identity, new Date(), history);
    };
    plan = await observe();
    for (const warning of plan.warnings) reporter.warn(warning);
    if (flags.dryRun) {
      return {
        exitCode: ExitCode.ok,
        data: { ...base, dryRun: true, result: 'planned', ...planData(plan) },
        text: [...renderPlan(plan), 'Dry run: nothing was changed.'],
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
      `${action} ${target.service} to ${plan.to} (since ${new Date().toISOString()})`,
    );
    const held = await steps.run('lock', () => lock!.acquire(), {
      done: (h) =>
        h.tookOverFrom ? `took over the expired lock of ${h.tookOverFrom}` : `held by ${ctx.identity}`,
    });
    tookOverFrom = held.tookOverFrom;
    lock.keep((reason) => ctx.stop(reason));
    const fresh = await observe();
    const readyConfirmedAt = Date.now();
    if (fresh.to !== plan.to) reporter.warn(`the active color changed meanwhile: switching to ${fresh.to}`);
    plan = fresh;
    cutover = await performCutover(
      ctx,
      plan,
      lock,
      {
        preChecks: options.preChecks,
        postChecks: options.postChecks,
        policy: flags.policy,
        endpointsTimeoutMs: flags.endpointsTimeoutMs,
        switchBackOnFailure: action === 'promote',
        readyConfirmedAt,
      },
      steps,
    );
    await steps.run('release', () => lock!.release());
    lock = undefined;
    reporter.close();
    const data = {
      ...base,
      result: 'succeeded',
      activeColor: plan.to,
      previewColor: plan.from,
      ...planData(plan),
      lock: { holder: ctx.identity, tookOverFrom },
      checks: cutover.checks,
      timings: { ...timings(), cutoverMs: cutover.cutoverMs },
    };
    return {
      exitCode: ExitCode.ok,
      data,
      text: [
        `${target.service}: ${action === 'rollback' ? 'rolled back to' : 'promoted'} ${plan.to} (${plan.image}); ${plan.from} (${plan.previousImage}) keeps running.`,
        `  cutover ${formatDuration(cutover.cutoverMs ?? 0)} (selector patch until the EndpointSlices listed only ${plan.to}), total ${formatDuration(data.timings.totalMs)}.`,
      ],
    };
  } catch (error) {
    const outcome = errorOutcome(error, kube, { ...base, ...(plan ? planData(plan) : {}) }, action);
    if (lock) await releaseAfterFailure(lock, steps);
    reporter.close();
    outcome.data.activeColor = await currentActiveColor(kube, target);
    outcome.data.lock = { holder: ctx.identity, tookOverFrom, released: lock !== undefined };
    outcome.data.timings = timings();
    return outcome;
  }
}
