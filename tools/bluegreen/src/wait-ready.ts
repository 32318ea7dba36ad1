// Waits BY WATCHING until a color is ready: the Deployment, its ReplicaSets and
// its pods are followed through watches, and the pure readiness verdict is
// recomputed on every change. Gives up early when the verdict says it will not
// get better (crash loop, ProgressDeadlineExceeded).
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { formatDuration } from './duration.js';
import { BluegreenError, ExitCode, StoppedError, stopReasonOf } from './errors.js';
import type { Kube } from './kube.js';
import { deploymentFrom, type ObservedDeployment, podFrom, replicaSetFrom } from './model.js';
import { type Color, colorSelector, labelSelectorString, objectNames, type Target } from './names.js';
import { colorReadiness, type Readiness } from './readiness.js';
import { watchCollection } from './watch.js';

export interface WaitReadyOptions {
  timeoutMs: number;
  /** The generation our own change produced: an older status says nothing about it. */
  minGeneration?: number;
}

export async function waitReady(
  kube: Kube,
  target: Target,
  color: Color,
  options: WaitReadyOptions,
  signal: AbortSignal,
  onProgress: (summary: string) => void,
): Promise<Readiness> {
  const names = objectNames(target);
  const name = names.deployments[color];
  const { namespace } = target;
  const labelSelector = labelSelectorString(colorSelector(target, color));
  const watches = new AbortController();
  const stopWatches = AbortSignal.any([watches.signal, signal]);

  let deployment: ObservedDeployment | undefined;
  let pods: V1Pod[] = [];
  let replicaSets: V1ReplicaSet[] = [];
  let last: Readiness | undefined;

  try {
    return await new Promise<Readiness>((resolve, reject) => {
      const timer = setTimeout(() => {
        const d = deployment;
        reject(
          new BluegreenError(
            ExitCode.notReady,
            `${color} (${name}) was not ready after ${formatDuration(options.timeoutMs)}: ${last?.summary ?? 'no status yet'}. Nothing was switched.`,
            `See why: kubectl -n ${namespace} describe deployment ${name}; kubectl -n ${namespace} get pods -l ${labelSelector}. Traffic stays on the other color; fix the image and deploy again, or give it longer with --timeout. ${leftBehind(namespace, name)}`,
            { readiness: last?.summary, image: d?.image },
          ),
        );
      }, options.timeoutMs);
      const onAbort = () => reject(new StoppedError(stopReasonOf(signal)));
      signal.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };

      const evaluate = () => {
        if (!deployment) return;
        if (options.minGeneration !== undefined && deployment.generation < options.minGeneration) return;
        const verdict = colorReadiness({
          deployment,
          pods: pods.map(podFrom),
          replicaSets: replicaSets.map(replicaSetFrom),
        });
        last = verdict;
        onProgress(verdict.summary);
        if (verdict.state === 'ready') {
          cleanup();
          resolve(verdict);
        } else if (verdict.state === 'failed') {
          cleanup();
          reject(
            new BluegreenError(
              ExitCode.notReady,
              `${color} (${name}) failed: ${verdict.summary}. Nothing was switched.`,
              `See why: kubectl -n ${namespace} describe pods -l ${labelSelector}. Traffic stays on the other color; fix the image and deploy again. ${leftBehind(namespace, name)}`,
              { reason: verdict.reason, image: deployment.image },
            ),
          );
        }
      };

      void watchCollection<V1Deployment>(
        kube.kc,
        {
          path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
          fieldSelector: `metadata.name=${name}`,
          list: () =>
            kube.apps.listNamespacedDeployment({ namespace, fieldSelector: `metadata.name=${name}` }),
        },
        (items) => {
          deployment = items[0] ? deploymentFrom(items[0], target.service) : undefined;
          evaluate();
        },
        stopWatches,
      );
      void watchCollection<V1ReplicaSet>(
        kube.kc,
        {
          path: `/apis/apps/v1/namespaces/${namespace}/replicasets`,
          labelSelector,
          list: () => kube.apps.listNamespacedReplicaSet({ namespace, labelSelector }),
        },
        (items) => {
          replicaSets = items;
          evaluate();
        },
        stopWatches,
      );
      void watchCollection<V1Pod>(
        kube.kc,
        {
          path: `/api/v1/namespaces/${namespace}/pods`,
          labelSelector,
          list: () => kube.core.listNamespacedPod({ namespace, labelSelector }),
        },
        (items) => {
          pods = items;
          evaluate();
        },
        stopWatches,
      );
    });
  } finally {
    watches.abort();
  }
}

/** The failed rollout stays for a closer look; say what that blocks and how to clear it. */
function leftBehind(namespace: string, name: string): string {
  return `${name} keeps the unfinished rollout meanwhile (a \`helm upgrade --wait\` waits for it too); to clear it: kubectl -n ${namespace} scale deployment ${name} --replicas=0`;
}
