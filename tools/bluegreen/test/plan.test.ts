import { describe, expect, it } from 'vitest';
import { BluegreenError, ExitCode } from '../src/errors.js';
import { prepareOps, scaleDownOps } from '../src/patches.js';
import { checkSelectorUnchanged, mayScaleDown, planDeploy, planSwitch } from '../src/plan.js';
import { deployment, lease, ready, service, state } from './support/fixtures.js';

const now = new Date('2026-01-01T00:00:10Z');
const deployOptions = {
  image: 'registry/users:2',
  promote: true,
  timeoutMs: 300_000,
  preChecks: [],
  postChecks: [],
  successes: 3,
};

function refusal(fn: () => unknown): BluegreenError {
  try {
    fn();
  } catch (error) {
    if (error instanceof BluegreenError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('planDeploy', () => {
  it('deploys to the idle color with the active color replica count, then switches', () => {
    const plan = planDeploy(state(), deployOptions, 'me', now);
    expect(plan).toMatchObject({
      from: 'blue',
      to: 'green',
      replicas: 3,
      image: 'registry/users:2',
      previousImage: 'registry/users:1',
    });
    expect(plan.steps.map((s) => s.id)).toEqual([
      'lock',
      'prepare',
      'wait-ready',
      'switch',
      'verify-endpoints',
      'record',
      'release',
    ]);
    expect(plan.expectedSelector['shop.example/color']).toBe('blue');
    expect(plan.lock.state).toBe('free');
  });

  it('goes the other way when green is active', () => {
    const plan = planDeploy(
      state({
        activeService: service('shop-users', 'green'),
        previewService: service('shop-users-preview', 'blue'),
      }),
      deployOptions,
      'me',
      now,
    );
    expect(plan).toMatchObject({ from: 'green', to: 'blue' });
  });

  it('adds checks, the preview fix and the delayed scale-down when asked', () => {
    const plan = planDeploy(
      state({ previewService: service('shop-users-preview', 'blue') }),
      {
        ...deployOptions,
        preChecks: ['http://127.0.0.1:1/pre'],
        postChecks: ['http://127.0.0.1:1/post'],
        scaleDownAfterMs: 60_000,
      },
      'me',
      now,
    );
    expect(plan.steps.map((s) => s.id)).toEqual([
      'lock',
      'prepare',
      'preview',
      'wait-ready',
      'pre-checks',
      'switch',
      'verify-endpoints',
      'post-checks',
      'record',
      'scale-down',
      'release',
    ]);
  });

  it('stops after readiness with --no-promote', () => {
    const plan = planDeploy(state(), { ...deployOptions, promote: false }, 'me', now);
    expect(plan.steps.map((s) => s.id)).toEqual(['lock', 'prepare', 'wait-ready', 'release']);
  });

  it('shows a held lock in the plan (a real run would exit 5)', () => {
    const plan = planDeploy(
      state({ lease: lease({ renewTime: new Date('2026-01-01T00:00:00Z') }) }),
      deployOptions,
      'me',
      now,
    );
    expect(plan.lock).toMatchObject({ state: 'held', holder: 'alice@ci (pid 1)' });
    expect(plan.steps[0]!.detail).toContain('exit 5');
  });

  it('gives the new color one replica when the active one runs none, with a warning', () => {
    const s = state();
    s.deployments.blue = deployment({ name: 'shop-users-blue', replicas: 0 });
    const plan = planDeploy(s, deployOptions, 'me', now);
    expect(plan.replicas).toBe(1);
    expect(plan.warnings[0]).toContain('0 replicas');
  });

  it('refuses without the objects of the conventions', () => {
    expect(
      refusal(() => planDeploy(state({ activeService: undefined }), deployOptions, 'me', now)).exitCode,
    ).toBe(ExitCode.precondition);
    const s = state();
    s.deployments.green = undefined;
    expect(refusal(() => planDeploy(s, deployOptions, 'me', now)).message).toContain(
      'shop-users-green not found',
    );
    const noContainer = state();
    noContainer.deployments.green = deployment({ containerIndex: -1 });
    expect(refusal(() => planDeploy(noContainer, deployOptions, 'me', now)).message).toContain(
      'no container named users',
    );
  });

  it('refuses a selector without a known color, saying how to fix it', () => {
    const active = service('shop-users', 'blue');
    active.selector['shop.example/color'] = 'purple';
    const error = refusal(() => planDeploy(state({ activeService: active }), deployOptions, 'me', now));
    expect(error.exitCode).toBe(ExitCode.precondition);
    expect(error.hint).toContain('kubectl');
  });

  it('rejects a bad image reference as a usage error', () => {
    expect(refusal(() => planDeploy(state(), { ...deployOptions, image: 'a b' }, 'me', now)).exitCode).toBe(
      ExitCode.usage,
    );
  });
});

describe('planSwitch (promote, rollback)', () => {
  const greenUp = () => {
    const s = state({ readiness: { green: ready } });
    s.deployments.green = deployment({ name: 'shop-users-green', image: 'registry/users:0', replicas: 3 });
    return s;
  };

  it('switches to the idle color when it is fully ready', () => {
    const plan = planSwitch(
      greenUp(),
      'rollback',
      { preChecks: [], postChecks: [], successes: 3 },
      'me',
      now,
    );
    expect(plan).toMatchObject({ action: 'rollback', from: 'blue', to: 'green', image: 'registry/users:0' });
    expect(plan.steps.map((s) => s.id)).toEqual(['lock', 'switch', 'verify-endpoints', 'record', 'release']);
  });

  it('drops post-promotion checks for a rollback (it is the way back)', () => {
    const plan = planSwitch(
      greenUp(),
      'rollback',
      { preChecks: [], postChecks: ['http://127.0.0.1:1/'], successes: 3 },
      'me',
      now,
    );
    expect(plan.steps.some((s) => s.id === 'post-checks')).toBe(false);
  });

  it('refuses a rollback to a color scaled to 0 and names the image to deploy instead', () => {
    const s = state({
      readiness: {
        green: {
          ...ready,
          state: 'waiting',
          summary: 'scaled to 0 replicas',
          counts: { ...ready.counts, desired: 0, available: 0 },
        },
      },
      activeService: service('shop-users', 'blue', {
        'shop.example/last-cutover': JSON.stringify({
          from: 'green',
          to: 'blue',
          at: 'x',
          by: 'y',
          images: { green: 'registry/users:0', blue: 'registry/users:1' },
          result: 'succeeded',
        }),
      }),
    });
    const error = refusal(() =>
      planSwitch(s, 'rollback', { preChecks: [], postChecks: [], successes: 3 }, 'me', now),
    );
    expect(error.exitCode).toBe(ExitCode.precondition);
    expect(error.message).toContain('scaled to 0');
    expect(error.hint).toContain('bluegreen deploy users -n shop --image registry/users:0');
  });

  it('never offers the image of a failed deploy as the previous version', () => {
    const s = state({
      readiness: {
        green: {
          ...ready,
          state: 'waiting',
          summary: 'scaled to 0 replicas',
          counts: { ...ready.counts, desired: 0, available: 0 },
        },
      },
    });
    const failedDeploy = {
      action: 'deploy',
      from: 'blue' as const,
      to: 'green' as const,
      at: 'x',
      by: 'y',
      images: { blue: 'registry/users:1', green: 'registry/users:broken' },
      result: 'not-ready',
    };
    const error = refusal(() =>
      planSwitch(s, 'rollback', { preChecks: [], postChecks: [], successes: 3 }, 'me', now, [failedDeploy]),
    );
    expect(error.hint).not.toContain('registry/users:broken');
    expect(error.hint).toContain('bluegreen deploy users -n shop --image <ref>');
  });

  it('refuses to promote a color that is not ready', () => {
    const s = state({ readiness: { green: { ...ready, state: 'waiting', summary: '1/3 pods ready' } } });
    s.deployments.green = deployment({ replicas: 3 });
    const error = refusal(() =>
      planSwitch(s, 'promote', { preChecks: [], postChecks: [], successes: 3 }, 'me', now),
    );
    expect(error.exitCode).toBe(ExitCode.precondition);
    expect(error.message).toContain('1/3 pods ready');
  });

  it('warns when the new color is smaller than the old one', () => {
    const s = greenUp();
    s.deployments.green = deployment({ replicas: 1 });
    const plan = planSwitch(s, 'promote', { preChecks: [], postChecks: [], successes: 3 }, 'me', now);
    expect(plan.warnings[0]).toContain('fewer');
  });
});

describe('guards', () => {
  it('scales the old color down only behind test ops on its generation and color', () => {
    expect(scaleDownOps('blue', 7)).toEqual([
      { op: 'test', path: '/metadata/generation', value: 7 },
      { op: 'test', path: '/spec/template/metadata/labels/shop.example~1color', value: 'blue' },
      { op: 'replace', path: '/spec/replicas', value: 0 },
    ]);
  });

  it('detects any change of the selector the plan was based on', () => {
    const plan = planDeploy(state(), deployOptions, 'me', now);
    expect(() => checkSelectorUnchanged(plan, service('shop-users', 'blue'))).not.toThrow();
    const flipped = service('shop-users', 'green');
    expect(refusal(() => checkSelectorUnchanged(plan, flipped)).message).toContain(
      'shop.example/color: blue -> green',
    );
    const extra = service('shop-users', 'blue');
    extra.selector.tier = 'x';
    expect(refusal(() => checkSelectorUnchanged(plan, extra)).exitCode).toBe(ExitCode.precondition);
    expect(refusal(() => checkSelectorUnchanged(plan, undefined)).exitCode).toBe(ExitCode.precondition);
  });

  it('never scales down the color the active Service selects', () => {
    expect(mayScaleDown('blue', service('shop-users', 'blue'))).toMatchObject({ ok: false });
    expect(mayScaleDown('blue', service('shop-users', 'green'))).toEqual({ ok: true });
    expect(mayScaleDown('blue', undefined)).toMatchObject({ ok: false });
  });

  it('changes the idle Deployment only behind test ops on its color and container', () => {
    const plan = planDeploy(state(), deployOptions, 'me', now);
    expect(prepareOps(plan, 0, 'users')).toEqual([
      { op: 'test', path: '/spec/template/metadata/labels/shop.example~1color', value: 'green' },
      { op: 'test', path: '/spec/template/spec/containers/0/name', value: 'users' },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry/users:2' },
      { op: 'replace', path: '/spec/replicas', value: 3 },
    ]);
  });
});
