// When is a color ready to take traffic? The predicate of docs/bluegreen-conventions.md
// (the `kubectl rollout status` rules plus "every pod of the newest ReplicaSet is
// Ready"), and when to give up early. Pure: observed data in, verdict out.
import type { ObservedDeployment, ObservedPod, ObservedReplicaSet } from './model.js';

/** Container states that will not fix themselves: fail fast instead of waiting for the timeout. */
export const FATAL_CONTAINER_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
]);

export interface ReadinessCounts {
  desired: number;
  updated: number;
  ready: number;
  available: number;
  /** Ready pods of the newest ReplicaSet, as seen on the pods themselves. */
  readyPods: number;
  /** Pods that are not of the newest ReplicaSet or are being deleted. */
  oldPods: number;
}

export type Readiness =
  | { state: 'ready'; summary: string; counts: ReadinessCounts }
  | { state: 'waiting'; summary: string; counts: ReadinessCounts }
  | { state: 'failed'; summary: string; counts: ReadinessCounts; reason: string };

export interface ReadinessInput {
  deployment: ObservedDeployment;
  replicaSets: ObservedReplicaSet[];
  pods: ObservedPod[];
}

export function newestReplicaSet(
  deployment: ObservedDeployment,
  replicaSets: ObservedReplicaSet[],
): ObservedReplicaSet | undefined {
  if (deployment.revision === undefined) return undefined;
  return replicaSets.find((rs) => rs.revision === deployment.revision);
}

export function colorReadiness({ deployment: d, replicaSets, pods }: ReadinessInput): Readiness {
  const newest = newestReplicaSet(d, replicaSets);
  const newPods = pods.filter((p) => newest && p.podTemplateHash === newest.podTemplateHash && !p.deleting);
  const oldPods = pods.filter((p) => !newPods.includes(p));
  const counts: ReadinessCounts = {
    desired: d.replicas,
    updated: d.updatedReplicas,
    ready: d.readyReplicas,
    available: d.availableReplicas,
    readyPods: newPods.filter((p) => p.ready).length,
    oldPods: oldPods.length,
  };
  const waiting = (summary: string): Readiness => ({ state: 'waiting', summary, counts });
  const failed = (reason: string, summary: string): Readiness => ({
    state: 'failed',
    reason,
    summary,
    counts,
  });

  if (d.generation > d.observedGeneration) {
    return waiting(`waiting for the controller to observe generation ${d.generation}`);
  }
  const progressing = d.conditions.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return failed(
      'ProgressDeadlineExceeded',
      `rollout exceeded its progress deadline (ProgressDeadlineExceeded): ${sentence(progressing.message)}`,
    );
  }
  const replicaFailure = d.conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (replicaFailure) {
    return failed(
      replicaFailure.reason ?? 'ReplicaFailure',
      `cannot create pods (${replicaFailure.reason ?? 'ReplicaFailure'}): ${sentence(replicaFailure.message)}`,
    );
  }
  const broken = newPods.find((p) => p.containerProblems.some((r) => FATAL_CONTAINER_REASONS.has(r)));
  if (broken) {
    const reason = broken.containerProblems.find((r) => FATAL_CONTAINER_REASONS.has(r))!;
    return failed(reason, `pod ${broken.name} is in ${reason} (${broken.restartCount} restarts)`);
  }
  if (d.replicas === 0) return waiting('scaled to 0 replicas');
  const progress = `${counts.readyPods}/${d.replicas} pods ready`;
  if (d.updatedReplicas < d.replicas)
    return waiting(`${progress}, ${d.updatedReplicas}/${d.replicas} updated`);
  if (d.statusReplicas > d.replicas || oldPods.length > 0) {
    // Old pods that are not being deleted yet are those the rollout has not
    // replaced (it waits for new pods to become ready first).
    const terminating = Math.max(
      oldPods.filter((p) => p.deleting).length,
      oldPods.length > 0 ? 0 : d.statusReplicas - d.replicas,
    );
    const notReplaced = oldPods.length - oldPods.filter((p) => p.deleting).length;
    const old = [
      notReplaced > 0 ? `${notReplaced} old pod(s) not replaced yet` : '',
      terminating > 0 ? `${terminating} old pod(s) still terminating` : '',
    ].filter(Boolean);
    return waiting(`${progress}, ${old.join(', ')}`);
  }
  if (d.readyReplicas < d.replicas || d.availableReplicas < d.replicas) {
    return waiting(`${progress}, ${d.availableReplicas}/${d.replicas} available`);
  }
  if (!newest) return waiting(`${progress}, waiting for the newest ReplicaSet to show up`);
  if (newPods.length !== d.replicas || counts.readyPods < d.replicas) {
    return waiting(`${progress} (seen on the pods)`);
  }
  return { state: 'ready', summary: `${d.replicas}/${d.replicas} pods ready and available`, counts };
}

/**
 * The guard in front of every switch: a color takes traffic only when it is fully
 * ready and has at least one available pod (an empty color means a blackout).
 */
export function canTakeTraffic(readiness: Readiness): { ok: true } | { ok: false; why: string } {
  if (readiness.counts.desired === 0) return { ok: false, why: 'it is scaled to 0 replicas' };
  if (readiness.counts.available === 0) return { ok: false, why: 'it has no available pods' };
  if (readiness.state !== 'ready') return { ok: false, why: `it is not ready (${readiness.summary})` };
  return { ok: true };
}

/** A condition message without its final period (ours follow it). */
function sentence(message: string | undefined): string {
  return (message ?? '').trim().replace(/\.+$/, '');
}
