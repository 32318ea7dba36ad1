import { describe, expect, it } from 'vitest';
import { canTakeTraffic, colorReadiness } from '../src/readiness.js';
import { deployment, pod, replicaSet } from './support/fixtures.js';

const replicaSets = [replicaSet('1', 'old', 0), replicaSet('2', 'new')];
const pods = [pod('a'), pod('b'), pod('c')];

describe('colorReadiness', () => {
  it('is ready when the Deployment and every pod of the newest ReplicaSet say so', () => {
    const r = colorReadiness({ deployment: deployment(), replicaSets, pods });
    expect(r.state).toBe('ready');
    expect(canTakeTraffic(r)).toEqual({ ok: true });
  });

  it('waits while the controller has not observed the latest generation', () => {
    const r = colorReadiness({
      deployment: deployment({ generation: 3, observedGeneration: 2 }),
      replicaSets,
      pods,
    });
    expect(r).toMatchObject({ state: 'waiting', summary: expect.stringContaining('generation 3') });
  });

  it('waits for updated, ready and available replicas', () => {
    expect(colorReadiness({ deployment: deployment({ updatedReplicas: 2 }), replicaSets, pods }).state).toBe(
      'waiting',
    );
    expect(colorReadiness({ deployment: deployment({ readyReplicas: 2 }), replicaSets, pods }).state).toBe(
      'waiting',
    );
    expect(
      colorReadiness({ deployment: deployment({ availableReplicas: 2 }), replicaSets, pods }).state,
    ).toBe('waiting');
  });

  it('waits while old pods are still there (not replaced yet or terminating)', () => {
    const viaStatus = colorReadiness({ deployment: deployment({ statusReplicas: 4 }), replicaSets, pods });
    expect(viaStatus).toMatchObject({ state: 'waiting', summary: expect.stringContaining('terminating') });
    const viaPods = colorReadiness({
      deployment: deployment(),
      replicaSets,
      pods: [...pods, pod('old-1', { podTemplateHash: 'old' })],
    });
    expect(viaPods).toMatchObject({
      state: 'waiting',
      summary: expect.stringContaining('1 old pod(s) not replaced yet'),
    });
    const deleting = colorReadiness({
      deployment: deployment(),
      replicaSets,
      pods: [...pods, pod('d', { deleting: true })],
    });
    expect(deleting).toMatchObject({
      state: 'waiting',
      summary: expect.stringContaining('1 old pod(s) still terminating'),
    });
  });

  it('waits until every pod of the newest ReplicaSet is Ready, whatever the counters say', () => {
    const r = colorReadiness({
      deployment: deployment(),
      replicaSets,
      pods: [pod('a'), pod('b'), pod('c', { ready: false })],
    });
    expect(r.state).toBe('waiting');
    expect(r.counts.readyPods).toBe(2);
  });

  it('waits when the newest ReplicaSet is not known yet', () => {
    expect(colorReadiness({ deployment: deployment({ revision: '3' }), replicaSets, pods }).state).toBe(
      'waiting',
    );
  });

  it('fails fast on a crash-looping pod of the new ReplicaSet', () => {
    const r = colorReadiness({
      deployment: deployment({ readyReplicas: 2, availableReplicas: 2 }),
      replicaSets,
      pods: [
        pod('a'),
        pod('b'),
        pod('c', { ready: false, containerProblems: ['CrashLoopBackOff'], restartCount: 4 }),
      ],
    });
    expect(r).toMatchObject({ state: 'failed', reason: 'CrashLoopBackOff' });
    expect(r.summary).toContain('pod c');
  });

  it('ignores a crash-looping pod of an old ReplicaSet (it is going away)', () => {
    const r = colorReadiness({
      deployment: deployment({ statusReplicas: 4 }),
      replicaSets,
      pods: [...pods, pod('old', { podTemplateHash: 'old', containerProblems: ['CrashLoopBackOff'] })],
    });
    expect(r.state).toBe('waiting');
  });

  it('fails fast on ProgressDeadlineExceeded and on ReplicaFailure', () => {
    const deadline = colorReadiness({
      deployment: deployment({
        availableReplicas: 1,
        conditions: [
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' },
        ],
      }),
      replicaSets,
      pods,
    });
    expect(deadline).toMatchObject({ state: 'failed', reason: 'ProgressDeadlineExceeded' });
    const quota = colorReadiness({
      deployment: deployment({
        conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'quota' }],
      }),
      replicaSets,
      pods,
    });
    expect(quota).toMatchObject({ state: 'failed', reason: 'FailedCreate' });
  });

  it('never lets a color with no pods take traffic', () => {
    const zero = colorReadiness({
      deployment: deployment({
        replicas: 0,
        statusReplicas: 0,
        updatedReplicas: 0,
        readyReplicas: 0,
        availableReplicas: 0,
      }),
      replicaSets,
      pods: [],
    });
    expect(zero.state).toBe('waiting');
    expect(canTakeTraffic(zero)).toEqual({ ok: false, why: 'it is scaled to 0 replicas' });
    const unavailable = colorReadiness({
      deployment: deployment({ availableReplicas: 0 }),
      replicaSets,
      pods,
    });
    expect(canTakeTraffic(unavailable)).toEqual({ ok: false, why: 'it has no available pods' });
  });
});
