// Reading the live objects: they are the truth (docs/bluegreen-conventions.md,
// "Where state lives"). Everything here only reads.
import type { V1ConfigMap, V1Deployment, V1Lease, V1Service } from '@kubernetes/client-node';
import { type ConsumersView, consumerEntries, consumersView } from './consumers.js';
import { BluegreenError, ExitCode, usageError } from './errors.js';
import { isNotFound, type Kube } from './kube.js';
import {
  deploymentFrom,
  leaseFrom,
  type ObservedDeployment,
  type ObservedPod,
  type ObservedReplicaSet,
  podFrom,
  replicaSetFrom,
  serviceFrom,
} from './model.js';
import {
  COLORS,
  type Color,
  colorSelector,
  INSTANCE_LABEL,
  labelSelectorString,
  NAME_LABEL,
  objectNames,
  ROLE_LABEL,
  type Target,
} from './names.js';
import type { ServiceState } from './plan.js';
import { colorReadiness, type Readiness } from './readiness.js';

async function orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Which release(s) and service(s) a command is about. Releases are found by the
 * active Services' labels, so `--release` is only needed when a namespace holds
 * several.
 */
export async function findTargets(
  kube: Kube,
  services: string[],
  release: string | undefined,
): Promise<Target[]> {
  const selector = [`${ROLE_LABEL}=active`];
  if (release) selector.push(`${INSTANCE_LABEL}=${release}`);
  const list = await kube.core.listNamespacedService({
    namespace: kube.namespace,
    labelSelector: selector.join(','),
  });
  const found = list.items
    .map((s) => ({
      service: s.metadata?.labels?.[NAME_LABEL],
      release: s.metadata?.labels?.[INSTANCE_LABEL],
    }))
    .filter((t): t is { service: string; release: string } => Boolean(t.service && t.release));
  const wanted = services.length > 0 ? services : [...new Set(found.map((t) => t.service))].sort();
  const targets: Target[] = [];
  for (const service of wanted) {
    const releases = [...new Set(found.filter((t) => t.service === service).map((t) => t.release))].sort();
    if (releases.length === 0) {
      throw new BluegreenError(
        ExitCode.precondition,
        `no blue-green service "${service}"${release ? ` of release ${release}` : ''} in namespace ${kube.namespace} (looked for a Service labelled ${ROLE_LABEL}=active, ${NAME_LABEL}=${service})`,
        found.length > 0
          ? `Services found there: ${[...new Set(found.map((t) => `${t.service} (release ${t.release})`))].join(', ')}.`
          : 'Pick the namespace with -n, or install the chart there (docs/bluegreen-conventions.md).',
      );
    }
    if (releases.length > 1) {
      throw usageError(
        `"${service}" exists in several releases in namespace ${kube.namespace}: ${releases.join(', ')}`,
        `Pick one with --release, e.g. --release ${releases[0]}.`,
      );
    }
    targets.push({ namespace: kube.namespace, release: releases[0]!, service });
  }
  return targets;
}

export interface ObserveOptions {
  /** Also read pods and ReplicaSets to judge each color's readiness (status, promote, rollback). */
  readiness: boolean;
}

export async function observeService(
  kube: Kube,
  target: Target,
  options: ObserveOptions,
): Promise<ServiceState> {
  const names = objectNames(target);
  const { namespace } = target;
  const [active, preview, blue, green, lease] = await Promise.all([
    orUndefined<V1Service>(kube.core.readNamespacedService({ name: names.activeService, namespace })),
    orUndefined<V1Service>(kube.core.readNamespacedService({ name: names.previewService, namespace })),
    orUndefined<V1Deployment>(
      kube.apps.readNamespacedDeployment({ name: names.deployments.blue, namespace }),
    ),
    orUndefined<V1Deployment>(
      kube.apps.readNamespacedDeployment({ name: names.deployments.green, namespace }),
    ),
    orUndefined<V1Lease>(kube.coordination.readNamespacedLease({ name: names.lease, namespace })),
  ]);
  const deployments: Record<Color, ObservedDeployment | undefined> = {
    blue: blue ? deploymentFrom(blue, target.service) : undefined,
    green: green ? deploymentFrom(green, target.service) : undefined,
  };
  const readiness: Partial<Record<Color, Readiness>> = {};
  if (options.readiness) {
    await Promise.all(
      COLORS.map(async (color) => {
        const deployment = deployments[color];
        if (deployment) readiness[color] = await observeReadiness(kube, target, color, deployment);
      }),
    );
  }
  return {
    target,
    names,
    activeService: active ? serviceFrom(active) : undefined,
    previewService: preview ? serviceFrom(preview) : undefined,
    deployments,
    readiness,
    lease: lease ? leaseFrom(lease) : undefined,
  };
}

export async function observeColorPods(
  kube: Kube,
  target: Target,
  color: Color,
): Promise<{ pods: ObservedPod[]; replicaSets: ObservedReplicaSet[] }> {
  const labelSelector = labelSelectorString(colorSelector(target, color));
  const [pods, replicaSets] = await Promise.all([
    kube.core.listNamespacedPod({ namespace: target.namespace, labelSelector }),
    kube.apps.listNamespacedReplicaSet({ namespace: target.namespace, labelSelector }),
  ]);
  return { pods: pods.items.map(podFrom), replicaSets: replicaSets.items.map(replicaSetFrom) };
}

export async function observeReadiness(
  kube: Kube,
  target: Target,
  color: Color,
  deployment?: ObservedDeployment,
): Promise<Readiness> {
  const names = objectNames(target);
  const current =
    deployment ??
    deploymentFrom(
      await kube.apps.readNamespacedDeployment({
        name: names.deployments[color],
        namespace: target.namespace,
      }),
      target.service,
    );
  const { pods, replicaSets } = await observeColorPods(kube, target, color);
  return colorReadiness({ deployment: current, pods, replicaSets });
}

/** Which color consumes, from the pods' own reports; undefined when none reports. */
export async function observeConsumers(kube: Kube, target: Target): Promise<ConsumersView | undefined> {
  const names = objectNames(target);
  const [configMap, pods] = await Promise.all([
    orUndefined<V1ConfigMap>(
      kube.core.readNamespacedConfigMap({ name: names.consumers, namespace: target.namespace }),
    ),
    kube.core.listNamespacedPod({
      namespace: target.namespace,
      labelSelector: labelSelectorString({ [NAME_LABEL]: target.service, [INSTANCE_LABEL]: target.release }),
    }),
  ]);
  const live = new Set(pods.items.map((pod) => pod.metadata?.name ?? ''));
  return consumersView(consumerEntries(configMap?.data), live);
}
