// The observed state as plain data: what the pure decisions (readiness, plan,
// lock, endpoints) work on. Converters accept both the client's typed objects
// and the raw JSON of watch events (same field names; times as Date or string).
import type {
  V1Deployment,
  V1EndpointSlice,
  V1Lease,
  V1Pod,
  V1ReplicaSet,
  V1Service,
} from '@kubernetes/client-node';
import {
  ABORT_ANNOTATION,
  type Color,
  isColor,
  LAST_CUTOVER_ANNOTATION,
  OPERATION_ANNOTATION,
} from './names.js';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface ObservedDeployment {
  name: string;
  generation: number;
  observedGeneration: number;
  /** spec.replicas */
  replicas: number;
  /** status.replicas: pods of every ReplicaSet, old ones included */
  statusReplicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** The image of the container named like the service (else the only container). */
  image: string | undefined;
  containerIndex: number;
  containerName: string | undefined;
  /** deployment.kubernetes.io/revision: which ReplicaSet is the newest. */
  revision: string | undefined;
  conditions: Condition[];
  resourceVersion: string;
}

export interface ObservedReplicaSet {
  name: string;
  revision: string | undefined;
  podTemplateHash: string | undefined;
  replicas: number;
}

export interface ObservedPod {
  name: string;
  podTemplateHash: string | undefined;
  labels: Record<string, string>;
  ready: boolean;
  deleting: boolean;
  phase: string | undefined;
  /** Reasons containers are waiting or terminated with, e.g. CrashLoopBackOff. */
  containerProblems: string[];
  restartCount: number;
}

export interface ObservedService {
  name: string;
  selector: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resourceVersion: string;
}

export interface ObservedEndpoint {
  podName: string | undefined;
  ready: boolean;
  terminating: boolean;
}

export interface ObservedLease {
  holder: string | undefined;
  renewTime: Date | undefined;
  durationSeconds: number;
  transitions: number;
  abortRequest: string | undefined;
  operation: string | undefined;
  resourceVersion: string;
}

export interface Cutover {
  action?: string;
  from: Color | string;
  to: Color | string;
  at: string;
  by: string;
  images: { blue?: string; green?: string };
  result: string;
  message?: string;
}

type Dated = Date | string | undefined;

function toDate(value: Dated): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function deploymentFrom(d: V1Deployment, containerName: string): ObservedDeployment {
  const containers = d.spec?.template?.spec?.containers ?? [];
  let index = containers.findIndex((c) => c.name === containerName);
  if (index < 0 && containers.length === 1) index = 0;
  const container = index >= 0 ? containers[index] : undefined;
  return {
    name: d.metadata?.name ?? '',
    generation: d.metadata?.generation ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    replicas: d.spec?.replicas ?? 1,
    statusReplicas: d.status?.replicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    readyReplicas: d.status?.readyReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    image: container?.image,
    containerIndex: index,
    containerName: container?.name,
    revision: d.metadata?.annotations?.['deployment.kubernetes.io/revision'],
    conditions: (d.status?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
    })),
    resourceVersion: d.metadata?.resourceVersion ?? '',
  };
}

export function replicaSetFrom(rs: V1ReplicaSet): ObservedReplicaSet {
  return {
    name: rs.metadata?.name ?? '',
    revision: rs.metadata?.annotations?.['deployment.kubernetes.io/revision'],
    podTemplateHash: rs.metadata?.labels?.['pod-template-hash'],
    replicas: rs.spec?.replicas ?? 0,
  };
}

export function podFrom(p: V1Pod): ObservedPod {
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  const problems: string[] = [];
  for (const s of statuses) {
    const waiting = s.state?.waiting?.reason;
    if (waiting && waiting !== 'ContainerCreating' && waiting !== 'PodInitializing') problems.push(waiting);
    const terminated = s.state?.terminated;
    if (terminated && terminated.exitCode !== 0) problems.push(terminated.reason ?? 'Error');
  }
  return {
    name: p.metadata?.name ?? '',
    podTemplateHash: p.metadata?.labels?.['pod-template-hash'],
    labels: p.metadata?.labels ?? {},
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    deleting: p.metadata?.deletionTimestamp !== undefined && p.metadata?.deletionTimestamp !== null,
    phase: p.status?.phase,
    containerProblems: problems,
    restartCount: statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0),
  };
}

export function serviceFrom(s: V1Service): ObservedService {
  return {
    name: s.metadata?.name ?? '',
    selector: { ...(s.spec?.selector ?? {}) },
    labels: { ...(s.metadata?.labels ?? {}) },
    annotations: { ...(s.metadata?.annotations ?? {}) },
    resourceVersion: s.metadata?.resourceVersion ?? '',
  };
}

export function endpointsFrom(slice: V1EndpointSlice): ObservedEndpoint[] {
  return (slice.endpoints ?? []).map((e) => ({
    podName: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined,
    // Per the EndpointSlice API a missing `ready` means ready.
    ready: e.conditions?.ready !== false,
    terminating: e.conditions?.terminating === true,
  }));
}

export function leaseFrom(l: V1Lease): ObservedLease {
  const holder = l.spec?.holderIdentity ?? undefined;
  return {
    holder: holder === '' ? undefined : holder,
    renewTime: toDate(l.spec?.renewTime as Dated),
    durationSeconds: l.spec?.leaseDurationSeconds ?? 0,
    transitions: l.spec?.leaseTransitions ?? 0,
    abortRequest: l.metadata?.annotations?.[ABORT_ANNOTATION] || undefined,
    operation: l.metadata?.annotations?.[OPERATION_ANNOTATION] || undefined,
    resourceVersion: l.metadata?.resourceVersion ?? '',
  };
}

/** The active color is whatever the active Service's selector says, nothing else. */
export function selectedColor(service: ObservedService | undefined, colorLabel: string): Color | undefined {
  const value = service?.selector[colorLabel];
  return isColor(value) ? value : undefined;
}

export function lastCutoverOf(service: ObservedService | undefined): Cutover | undefined {
  const raw = service?.annotations[LAST_CUTOVER_ANNOTATION];
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as Cutover;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}
