// What a command will do, computed from what was observed. Pure: the state in,
// the plan (or a refusal with its exit code and what to do) out. The runner in
// commands/ carries the plan out step by step; --dry-run prints it.
import { formatDuration } from './duration.js';
import { BluegreenError, ExitCode } from './errors.js';
import { decideAcquire, leaseExpiry } from './lock-decision.js';
import {
  type Cutover,
  lastCutoverOf,
  type ObservedDeployment,
  type ObservedLease,
  type ObservedService,
  selectedColor,
} from './model.js';
import { COLOR_LABEL, type Color, type ObjectNames, otherColor, type Target } from './names.js';
import { canTakeTraffic, type Readiness } from './readiness.js';

export interface ServiceState {
  target: Target;
  names: ObjectNames;
  activeService: ObservedService | undefined;
  previewService: ObservedService | undefined;
  deployments: Record<Color, ObservedDeployment | undefined>;
  /** Filled when pods and ReplicaSets were observed too (status, promote, rollback). */
  readiness: Partial<Record<Color, Readiness>>;
  lease: ObservedLease | undefined;
}

export type StepId =
  | 'lock'
  | 'prepare'
  | 'preview'
  | 'wait-ready'
  | 'pre-checks'
  | 'switch'
  | 'verify-endpoints'
  | 'post-checks'
  | 'record'
  | 'scale-down'
  | 'release';

export interface PlanStep {
  id: StepId;
  title: string;
  detail?: string;
}

export type Action = 'deploy' | 'promote' | 'rollback';

export interface LockView {
  state: 'free' | 'held' | 'expired';
  holder?: string;
  expiresAt?: string;
  operation?: string;
}

export interface Plan {
  action: Action;
  target: Target;
  names: ObjectNames;
  /** The color the active Service selects now. */
  from: Color;
  /** The color that will take traffic (deploy, promote, rollback all switch to the idle color). */
  to: Color;
  /** The selector of the active Service the plan is based on: the switch is a compare-and-swap on it. */
  expectedSelector: Record<string, string>;
  image: string | undefined;
  previousImage: string | undefined;
  imageOfFrom: string | undefined;
  replicas: number;
  promote: boolean;
  steps: PlanStep[];
  warnings: string[];
  lock: LockView;
}

export interface CheckOptions {
  preChecks: string[];
  postChecks: string[];
  successes: number;
}

export interface DeployOptions extends CheckOptions {
  image: string;
  replicas?: number;
  promote: boolean;
  timeoutMs: number;
  scaleDownAfterMs?: number;
}

export interface SwitchOptions extends CheckOptions {
  scaleDownAfterMs?: number;
}

export function lockView(lease: ObservedLease | undefined, me: string, now: Date): LockView {
  const decision = decideAcquire(lease, me, now);
  if (decision.action === 'refuse') {
    return {
      state: 'held',
      holder: decision.holder,
      expiresAt: decision.expiresAt.toISOString(),
      operation: decision.operation,
    };
  }
  if (decision.action === 'take' && decision.previousHolder) {
    return {
      state: 'expired',
      holder: decision.previousHolder,
      expiresAt: decision.expiredAt?.toISOString(),
    };
  }
  return { state: 'free' };
}

const CONVENTIONS_HINT =
  'The objects must follow docs/bluegreen-conventions.md (install the chart: helm install <release> deploy/helm/shop).';

interface Resolved {
  from: Color;
  to: Color;
  active: ObservedService;
  fromDeployment: ObservedDeployment;
  toDeployment: ObservedDeployment;
}

/** The checks every command shares: the objects exist and the active Service selects a color. */
export function resolveColors(state: ServiceState): Resolved {
  const { names, target } = state;
  const where = `namespace ${target.namespace}`;
  const active = state.activeService;
  if (!active) {
    throw new BluegreenError(
      ExitCode.precondition,
      `Service ${names.activeService} not found in ${where}.`,
      CONVENTIONS_HINT,
    );
  }
  const from = selectedColor(active, COLOR_LABEL);
  if (!from) {
    const value = active.selector[COLOR_LABEL];
    throw new BluegreenError(
      ExitCode.precondition,
      `Service ${names.activeService} selects no color: its selector has ${COLOR_LABEL}=${value ?? '(missing)'}, expected blue or green.`,
      `Point it at the color that serves today, e.g. kubectl -n ${target.namespace} patch service ${names.activeService} -p '{"spec":{"selector":{"${COLOR_LABEL}":"blue"}}}'`,
    );
  }
  const to = otherColor(from);
  const fromDeployment = state.deployments[from];
  const toDeployment = state.deployments[to];
  for (const [color, deployment] of [
    [from, fromDeployment],
    [to, toDeployment],
  ] as const) {
    if (!deployment) {
      throw new BluegreenError(
        ExitCode.precondition,
        `Deployment ${names.deployments[color]} not found in ${where}.`,
        CONVENTIONS_HINT,
      );
    }
    if (deployment.containerIndex < 0) {
      throw new BluegreenError(
        ExitCode.precondition,
        `Deployment ${names.deployments[color]} has no container named ${target.service}.`,
        `Name the service's container "${target.service}" in the pod template (docs/bluegreen-conventions.md).`,
      );
    }
  }
  return { from, to, active, fromDeployment: fromDeployment!, toDeployment: toDeployment! };
}

function checkSteps(urls: string[], successes: number, when: 'pre' | 'post'): PlanStep[] {
  if (urls.length === 0) return [];
  return [
    {
      id: when === 'pre' ? 'pre-checks' : 'post-checks',
      title: when === 'pre' ? 'Pre-promotion checks' : 'Post-promotion checks',
      detail: `${successes} consecutive 2xx from ${urls.join(', ')}`,
    },
  ];
}

function tailSteps(
  plan: { from: Color; to: Color; names: ObjectNames },
  opts: SwitchOptions,
  action: Action,
): PlanStep[] {
  const { from, to, names } = plan;
  const steps: PlanStep[] = [
    ...checkSteps(opts.preChecks, opts.successes, 'pre'),
    {
      id: 'switch',
      title: `Switch ${names.activeService} from ${from} to ${to}`,
      detail: `JSON Patch with a test op on the selector (fails instead of overwriting a concurrent change); preview ${names.previewService} to ${from}`,
    },
    {
      id: 'verify-endpoints',
      title: `Verify the EndpointSlices of ${names.activeService} list only ready ${to} pods`,
      detail: action === 'rollback' ? undefined : `if they do not in time: switch back to ${from}`,
    },
    ...checkSteps(opts.postChecks, opts.successes, 'post'),
    {
      id: 'record',
      title: 'Record the cutover',
      detail: `annotation on ${names.activeService}, ConfigMap ${names.history}`,
    },
  ];
  if (opts.scaleDownAfterMs !== undefined) {
    steps.push({
      id: 'scale-down',
      title: `Scale ${from} to 0 after ${formatDuration(opts.scaleDownAfterMs)}`,
      detail: `only if ${names.activeService} does not select ${from} then and nobody changed ${names.deployments[from]}; the lock is released while waiting, so a rollback stays possible`,
    });
  }
  return steps;
}

export function planDeploy(state: ServiceState, opts: DeployOptions, me: string, now: Date): Plan {
  const { from, to, active, fromDeployment, toDeployment } = resolveColors(state);
  const { names, target } = state;
  const warnings: string[] = [];
  if (!opts.image || /\s/.test(opts.image)) {
    throw new BluegreenError(
      ExitCode.usage,
      `--image "${opts.image}" is not an image reference.`,
      'Pass e.g. --image registry.example/shop-users:1.4.2',
    );
  }
  let replicas = opts.replicas ?? fromDeployment.replicas;
  if (replicas === 0 && opts.replicas === undefined) {
    replicas = 1;
    warnings.push(`${names.deployments[from]} runs 0 replicas; ${to} gets 1 (set --replicas to choose).`);
  }
  if (replicas < 1) {
    throw new BluegreenError(
      ExitCode.usage,
      '--replicas must be at least 1: traffic never moves to a color with no pods.',
    );
  }
  const lock = lockView(state.lease, me, now);
  const steps: PlanStep[] = [
    {
      id: 'lock',
      title: `Take the lock (Lease ${names.lease})`,
      detail:
        lock.state === 'held'
          ? `held by ${lock.holder} until ${lock.expiresAt}: a real run would exit 5`
          : lock.state === 'expired'
            ? `expired lock of ${lock.holder} would be taken over`
            : 'free',
    },
    {
      id: 'prepare',
      title: `Set ${to} to ${opts.image} with ${replicas} replica(s)`,
      detail: `${names.deployments[to]} now: ${toDeployment.image ?? '?'}, ${toDeployment.replicas} replica(s); ${from} stays untouched`,
    },
  ];
  const previewColor = selectedColor(state.previewService, COLOR_LABEL);
  if (!state.previewService) {
    warnings.push(`Service ${names.previewService} not found: there is no preview of ${to}.`);
  } else if (previewColor !== to) {
    steps.push({ id: 'preview', title: `Point the preview Service ${names.previewService} at ${to}` });
  }
  steps.push({
    id: 'wait-ready',
    title: `Wait until ${to} is ready`,
    detail: `${replicas}/${replicas} pods ready and available, timeout ${formatDuration(opts.timeoutMs)}; fail fast on crash loops and ProgressDeadlineExceeded`,
  });
  if (opts.promote) steps.push(...tailSteps({ from, to, names }, opts, 'deploy'));
  else steps.push(...checkSteps(opts.preChecks, opts.successes, 'pre'));
  steps.push({ id: 'release', title: 'Release the lock' });
  return {
    action: 'deploy',
    target,
    names,
    from,
    to,
    expectedSelector: { ...active.selector },
    image: opts.image,
    previousImage: fromDeployment.image,
    imageOfFrom: fromDeployment.image,
    replicas,
    promote: opts.promote,
    steps,
    warnings,
    lock,
  };
}

/** promote and rollback: switch to the idle color, which must be fully ready already. */
export function planSwitch(
  state: ServiceState,
  action: 'promote' | 'rollback',
  opts: SwitchOptions,
  me: string,
  now: Date,
  history: Cutover[] = [],
): Plan {
  const { from, to, active, fromDeployment, toDeployment } = resolveColors(state);
  const { names, target } = state;
  const readiness = state.readiness[to];
  const verdict = readiness ? canTakeTraffic(readiness) : { ok: false as const, why: 'its state is unknown' };
  if (!verdict.ok) {
    // The image `to` served until a successful cutover moved traffic away from it:
    // a failed or switched-back deploy to `to` never was a version to go back to.
    const servedBefore = [lastCutoverOf(active), ...history].find(
      (c) => c?.from === to && c.result === 'succeeded',
    );
    const previousImage = servedBefore?.images?.[to];
    const ns = `-n ${target.namespace}`;
    const hint =
      action === 'rollback'
        ? toDeployment.replicas === 0 && previousImage
          ? `Bring the previous version back as a new deploy: bluegreen deploy ${target.service} ${ns} --image ${previousImage} (it scales ${to} up, waits until ready, then switches).`
          : `Make ${to} ready first (bluegreen status ${target.service} ${ns} shows why it is not), or deploy the version you want: bluegreen deploy ${target.service} ${ns} --image <ref>.`
        : toDeployment.replicas === 0
          ? `Nothing to promote: run bluegreen deploy ${target.service} --image <ref> --no-promote first.`
          : `Wait until it is ready (bluegreen status ${target.service}), or deploy again: bluegreen deploy ${target.service} --image <ref>.`;
    throw new BluegreenError(
      ExitCode.precondition,
      `Refusing to ${action}: ${names.activeService} stays on ${from} because ${to} (${names.deployments[to]}) cannot take traffic: ${verdict.why}.`,
      hint,
      { from, to, readiness: readiness?.summary },
    );
  }
  const warnings: string[] = [];
  if (toDeployment.replicas < fromDeployment.replicas) {
    warnings.push(
      `${to} runs ${toDeployment.replicas} replica(s), fewer than the ${fromDeployment.replicas} of ${from} it replaces.`,
    );
  }
  const lock = lockView(state.lease, me, now);
  const steps: PlanStep[] = [
    {
      id: 'lock',
      title: `Take the lock (Lease ${names.lease})`,
      detail: lock.state === 'held' ? `held by ${lock.holder}: a real run would exit 5` : lock.state,
    },
    ...tailSteps({ from, to, names }, action === 'rollback' ? { ...opts, postChecks: [] } : opts, action),
    { id: 'release', title: 'Release the lock' },
  ];
  return {
    action,
    target,
    names,
    from,
    to,
    expectedSelector: { ...active.selector },
    image: toDeployment.image,
    previousImage: fromDeployment.image,
    imageOfFrom: fromDeployment.image,
    replicas: toDeployment.replicas,
    promote: true,
    steps,
    warnings,
    lock,
  };
}

/**
 * Right before the switch, on a fresh read of the active Service: it must still
 * select exactly what the plan was based on. Anything else means someone changed
 * it underneath, and the switch must not overwrite that.
 */
export function checkSelectorUnchanged(plan: Plan, current: ObservedService | undefined): void {
  const expected = plan.expectedSelector;
  const actual = current?.selector ?? {};
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  const changed = [...keys].filter((k) => expected[k] !== actual[k]);
  if (!current || changed.length > 0) {
    throw serviceChangedError(
      plan,
      changed.map((k) => `${k}: ${expected[k] ?? '(none)'} -> ${actual[k] ?? '(none)'}`).join(', '),
    );
  }
}

export function serviceChangedError(plan: Plan, what: string): BluegreenError {
  const { names, target } = plan;
  return new BluegreenError(
    ExitCode.precondition,
    `Service ${names.activeService} changed underneath${what ? ` (${what})` : ''}: nothing was switched, the concurrent change was kept.`,
    `Look at what changed (kubectl -n ${target.namespace} get service ${names.activeService} -o yaml, bluegreen status ${target.service}) and run the command again.`,
  );
}

/** Never scale down the color the active Service selects. */
export function mayScaleDown(
  color: Color,
  active: ObservedService | undefined,
): { ok: true } | { ok: false; why: string } {
  if (!active) return { ok: false, why: 'the active Service is gone' };
  const selected = active.selector[COLOR_LABEL];
  if (selected === color) return { ok: false, why: `${active.name} selects ${color} (a rollback happened?)` };
  if (selected !== 'blue' && selected !== 'green')
    return { ok: false, why: `${active.name} selects no known color` };
  return { ok: true };
}

export function leaseExpiresAt(lease: ObservedLease | undefined): Date | undefined {
  return lease ? leaseExpiry(lease) : undefined;
}
