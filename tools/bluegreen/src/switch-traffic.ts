// The switch itself: one JSON Patch on the active Service whose first op `test`s
// the whole selector the plan was based on, so a concurrent change makes the API
// server reject it (422) instead of us overwriting it. Only the color key changes.
// Then the proof that it landed: the Service's EndpointSlices list only ready
// pods of the new color (watched, not polled).
import type { V1EndpointSlice, V1Pod } from '@kubernetes/client-node';
import { formatDuration } from './duration.js';
import { type EndpointVerdict, endpointVerdict } from './endpoints.js';
import { BluegreenError, ExitCode, StoppedError, stopReasonOf } from './errors.js';
import { isInvalid, isNotFound, jsonPatch, type Kube } from './kube.js';
import { endpointsFrom, type ObservedService, podFrom, serviceFrom } from './model.js';
import {
  type Color,
  colorSelector,
  labelSelectorString,
  objectNames,
  SERVICE_NAME_LABEL,
  type Target,
} from './names.js';
import { type SwitchRequest, switchOps } from './patches.js';
import { watchCollection } from './watch.js';

export type SwitchOutcome =
  | { ok: true; resourceVersion: string }
  | { ok: false; changed: string; current: Record<string, string> | undefined };

/** Compare-and-swap of one Service's color. Never retried blindly: a failed test is reported. */
export async function switchSelector(
  kube: Kube,
  target: Target,
  request: SwitchRequest,
  current?: ObservedService,
): Promise<SwitchOutcome> {
  const ref = { name: request.service, namespace: target.namespace };
  try {
    // Whether /metadata/annotations exists decides the `add` op; a fresh read is
    // only needed when the caller has none (the `test` op guards the selector anyway).
    const seen = current ?? serviceFrom(await kube.core.readNamespacedService(ref));
    const hadAnnotations = Object.keys(seen.annotations).length > 0;
    const updated = await kube.core.patchNamespacedService(
      { ...ref, body: switchOps({ ...request, hadAnnotations, resourceVersion: seen.resourceVersion }) },
      jsonPatch,
    );
    return { ok: true, resourceVersion: updated.metadata?.resourceVersion ?? '' };
  } catch (error) {
    if (!isInvalid(error) && !isNotFound(error)) throw error;
    let current: Record<string, string> | undefined;
    try {
      current = serviceFrom(await kube.core.readNamespacedService(ref)).selector;
    } catch {
      current = undefined;
    }
    const expected = request.expectedSelector;
    const keys = new Set([...Object.keys(expected), ...Object.keys(current ?? {})]);
    const changed = current
      ? [...keys]
          .filter((k) => expected[k] !== current?.[k])
          .map((k) => `${k}: ${expected[k] ?? '(none)'} -> ${current?.[k] ?? '(none)'}`)
          .join(', ')
      : 'the Service is gone';
    return { ok: false, changed: changed || 'changed and changed back', current };
  }
}

export interface VerifyResult {
  verdict: EndpointVerdict;
  ms: number;
}

/**
 * Follows the active Service's EndpointSlices and the pods of one color. Started
 * before the switch, so the proof afterwards is event-driven from the first
 * moment (no list round-trips on the critical path). Before the switch the
 * slices list the other color, so `until` cannot be satisfied early.
 */
export function watchEndpoints(kube: Kube, target: Target, color: Color, desired: number) {
  const names = objectNames(target);
  const { namespace } = target;
  const sliceSelector = `${SERVICE_NAME_LABEL}=${names.activeService}`;
  const podSelector = labelSelectorString(colorSelector(target, color));
  const watches = new AbortController();
  let slices: V1EndpointSlice[] | undefined;
  let pods: V1Pod[] | undefined;
  let listener: (() => void) | undefined;
  void watchCollection<V1EndpointSlice>(
    kube.kc,
    {
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      labelSelector: sliceSelector,
      list: () => kube.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: sliceSelector }),
    },
    (items) => {
      slices = items;
      listener?.();
    },
    watches.signal,
  );
  void watchCollection<V1Pod>(
    kube.kc,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector: podSelector,
      list: () => kube.core.listNamespacedPod({ namespace, labelSelector: podSelector }),
    },
    (items) => {
      pods = items;
      listener?.();
    },
    watches.signal,
  );

  const until = (timeoutMs: number, signal: AbortSignal, onProgress: (summary: string) => void) =>
    new Promise<VerifyResult>((resolve, reject) => {
      const started = performance.now();
      let last: EndpointVerdict | undefined;
      const finish = () => {
        listener = undefined;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new BluegreenError(
            ExitCode.switchedBack,
            `the EndpointSlices of ${names.activeService} did not list only ready ${color} pods within ${formatDuration(timeoutMs)} (${last?.summary ?? 'no EndpointSlices seen'})`,
            `Look at kubectl -n ${namespace} get endpointslices -l ${sliceSelector} -o wide and the endpointslice controller.`,
          ),
        );
      }, timeoutMs);
      const onAbort = () => {
        finish();
        reject(new StoppedError(stopReasonOf(signal)));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      listener = () => {
        if (!slices || !pods) return;
        const verdict = endpointVerdict(slices.flatMap(endpointsFrom), pods.map(podFrom), color, desired);
        last = verdict;
        onProgress(verdict.summary);
        if (verdict.done) {
          finish();
          resolve({ verdict, ms: performance.now() - started });
        }
      };
      listener();
    });

  return { until, stop: () => watches.abort() };
}

/** Resolves once the active Service's EndpointSlices list exactly the ready pods of `color`. */
export async function verifyEndpoints(
  kube: Kube,
  target: Target,
  color: Color,
  desired: number,
  timeoutMs: number,
  signal: AbortSignal,
  onProgress: (summary: string) => void,
): Promise<VerifyResult> {
  const watch = watchEndpoints(kube, target, color, desired);
  try {
    return await watch.until(timeoutMs, signal, onProgress);
  } finally {
    watch.stop();
  }
}
