// Did the switch land? The active Service's EndpointSlices must list only ready
// pods of the new color, all of them. Pure: endpoints and pods in, verdict out.
import type { ObservedEndpoint, ObservedPod } from './model.js';
import { COLOR_LABEL, type Color } from './names.js';

export interface EndpointVerdict {
  done: boolean;
  summary: string;
  readyOfColor: number;
  others: number;
  notReady: number;
}

export function endpointVerdict(
  endpoints: ObservedEndpoint[],
  pods: ObservedPod[],
  color: Color,
  desired: number,
): EndpointVerdict {
  const podsByName = new Map(pods.map((p) => [p.name, p]));
  // Dual-stack Services list a pod once per address family: count pods, not entries.
  const seen = new Map<string, ObservedEndpoint>();
  let anonymous = 0;
  for (const e of endpoints) {
    if (e.podName === undefined) anonymous += 1;
    else {
      const before = seen.get(e.podName);
      seen.set(e.podName, before ? { ...e, ready: before.ready && e.ready } : e);
    }
  }
  let readyOfColor = 0;
  let others = anonymous;
  let notReady = 0;
  for (const [name, e] of seen) {
    const pod = podsByName.get(name);
    if (!pod || pod.labels[COLOR_LABEL] !== color) others += 1;
    else if (!e.ready || e.terminating || !pod.ready) notReady += 1;
    else readyOfColor += 1;
  }
  const done = others === 0 && notReady === 0 && readyOfColor === desired && desired > 0;
  const parts = [`${readyOfColor}/${desired} ready ${color} endpoints`];
  if (others > 0) parts.push(`${others} other endpoint(s) still listed`);
  if (notReady > 0) parts.push(`${notReady} not ready`);
  return { done, summary: parts.join(', '), readyOfColor, others, notReady };
}
