// The writes, as data: JSON Patches whose `test` ops make each change land only
// on the object the plan was computed from. Pure, so the exact bytes are tested.
import type { Cutover } from './model.js';
import { COLOR_LABEL, type Color, LAST_CUTOVER_ANNOTATION, pointerSegment } from './names.js';
import type { Plan } from './plan.js';

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'test';
  path: string;
  value?: unknown;
}

const colorOfTemplate = `/spec/template/metadata/labels/${pointerSegment(COLOR_LABEL)}`;

/** The change to the idle color: image and replicas, only on that color's Deployment and container. */
export function prepareOps(plan: Plan, containerIndex: number, containerName: string): JsonPatchOp[] {
  const container = `/spec/template/spec/containers/${containerIndex}`;
  return [
    { op: 'test', path: colorOfTemplate, value: plan.to },
    { op: 'test', path: `${container}/name`, value: containerName },
    { op: 'replace', path: `${container}/image`, value: plan.image },
    { op: 'replace', path: '/spec/replicas', value: plan.replicas },
  ];
}

/** Scale the old color to 0, only if nobody changed its Deployment since the cutover. */
export function scaleDownOps(color: Color, generation: number | undefined): JsonPatchOp[] {
  return [
    ...(generation !== undefined
      ? [{ op: 'test' as const, path: '/metadata/generation', value: generation }]
      : []),
    { op: 'test', path: colorOfTemplate, value: color },
    { op: 'replace', path: '/spec/replicas', value: 0 },
  ];
}

export interface SwitchRequest {
  service: string;
  expectedSelector: Record<string, string>;
  to: Color;
  hadAnnotations: boolean;
  /** Of the read that found no annotations: adding the whole map must not replace some that appeared since. */
  resourceVersion?: string;
  cutover?: Cutover;
}

/** The switch: `test` the whole selector the plan saw, replace only the color key. */
export function switchOps(request: SwitchRequest): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/spec/selector', value: request.expectedSelector },
    { op: 'replace', path: `/spec/selector/${pointerSegment(COLOR_LABEL)}`, value: request.to },
  ];
  if (request.cutover) {
    const value = JSON.stringify(request.cutover);
    if (request.hadAnnotations) {
      ops.push({
        op: 'add',
        path: `/metadata/annotations/${pointerSegment(LAST_CUTOVER_ANNOTATION)}`,
        value,
      });
    } else {
      if (request.resourceVersion) {
        ops.unshift({ op: 'test', path: '/metadata/resourceVersion', value: request.resourceVersion });
      }
      ops.push({ op: 'add', path: '/metadata/annotations', value: { [LAST_CUTOVER_ANNOTATION]: value } });
    }
  }
  return ops;
}
