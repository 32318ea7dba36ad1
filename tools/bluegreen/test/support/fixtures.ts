// Observed-state builders for the unit tests of the pure decisions.
import type {
  ObservedDeployment,
  ObservedLease,
  ObservedPod,
  ObservedReplicaSet,
  ObservedService,
} from '../../src/model.js';
import { type Color, objectNames, type Target } from '../../src/names.js';
import type { ServiceState } from '../../src/plan.js';
import type { Readiness } from '../../src/readiness.js';

export const target: Target = { namespace: 'shop', release: 'shop', service: 'users' };

export function deployment(overrides: Partial<ObservedDeployment> = {}): ObservedDeployment {
  return {
    name: 'shop-users-green',
    generation: 2,
    observedGeneration: 2,
    replicas: 3,
    statusReplicas: 3,
    updatedReplicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
    image: 'registry/users:1',
    containerIndex: 0,
    containerName: 'users',
    revision: '2',
    conditions: [],
    resourceVersion: '100',
    ...overrides,
  };
}

export function replicaSet(revision: string, hash: string, replicas = 3): ObservedReplicaSet {
  return { name: `shop-users-green-${hash}`, revision, podTemplateHash: hash, replicas };
}

export function pod(name: string, overrides: Partial<ObservedPod> = {}): ObservedPod {
  return {
    name,
    podTemplateHash: 'new',
    labels: { 'shop.example/color': 'green' },
    ready: true,
    deleting: false,
    phase: 'Running',
    containerProblems: [],
    restartCount: 0,
    ...overrides,
  };
}

export function service(
  name: string,
  color: Color,
  annotations: Record<string, string> = {},
): ObservedService {
  return {
    name,
    selector: {
      'app.kubernetes.io/name': 'users',
      'app.kubernetes.io/instance': 'shop',
      'shop.example/color': color,
    },
    labels: {},
    annotations,
    resourceVersion: '7',
  };
}

export function lease(overrides: Partial<ObservedLease> = {}): ObservedLease {
  return {
    holder: 'alice@ci (pid 1)',
    renewTime: new Date('2026-01-01T00:00:00Z'),
    durationSeconds: 30,
    transitions: 0,
    abortRequest: undefined,
    operation: 'deploy users x',
    resourceVersion: '1',
    ...overrides,
  };
}

export const ready: Readiness = {
  state: 'ready',
  summary: '3/3 pods ready and available',
  counts: { desired: 3, updated: 3, ready: 3, available: 3, readyPods: 3, oldPods: 0 },
};

export function state(overrides: Partial<ServiceState> = {}): ServiceState {
  return {
    target,
    names: objectNames(target),
    activeService: service('shop-users', 'blue'),
    previewService: service('shop-users-preview', 'green'),
    deployments: {
      blue: deployment({ name: 'shop-users-blue', image: 'registry/users:1', replicas: 3 }),
      green: deployment({
        name: 'shop-users-green',
        image: 'registry/users:0',
        replicas: 0,
        availableReplicas: 0,
        readyReplicas: 0,
        updatedReplicas: 0,
        statusReplicas: 0,
      }),
    },
    readiness: {},
    lease: undefined,
    ...overrides,
  };
}
