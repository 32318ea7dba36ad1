// bluegreen abort <service>: asks the process that holds the service's lock to
// stop (an annotation on the Lease it watches) and waits until it let go. The
// holder stops at its next step and leaves traffic where it was.
import type { V1Lease } from '@kubernetes/client-node';
import { formatDuration } from '../duration.js';
import { BluegreenError, ExitCode } from '../errors.js';
import type { Kube } from '../kube.js';
import { readLease, requestAbort } from '../lock.js';
import { isHeld } from '../lock-decision.js';
import { leaseFrom } from '../model.js';
import { objectNames, type Target } from '../names.js';
import type { Reporter } from '../progress.js';
import { watchCollection } from '../watch.js';
import { currentActiveColor, type Outcome } from './common.js';

export async function abort(
  kube: Kube,
  target: Target,
  actor: string,
  timeoutMs: number,
  reporter: Reporter,
): Promise<Outcome> {
  const names = objectNames(target);
  const base = {
    command: 'abort',
    service: target.service,
    namespace: target.namespace,
    release: target.release,
  };
  const lease = await readLease(kube.coordination, target, names);
  if (!isHeld(lease, new Date())) {
    const activeColor = await currentActiveColor(kube, target);
    return {
      exitCode: ExitCode.ok,
      data: { ...base, result: 'nothing-to-abort', activeColor, staleHolder: lease?.holder ?? null },
      text: [
        `nothing to abort: no cutover of ${target.service} is in progress${lease?.holder ? ` (the lock left by ${lease.holder} has expired)` : ''}; traffic on ${activeColor ?? '?'}.`,
      ],
    };
  }
  const holder = lease!.holder!;
  reporter.plan([
    { id: 'request', title: `Ask ${holder} to stop` },
    { id: 'wait', title: 'Wait until it released the lock' },
  ]);
  reporter.start('request');
  await requestAbort(kube.coordination, target, names, actor);
  reporter.finish('request', 'done', `annotated Lease ${names.lease}`);
  reporter.start('wait');
  const started = Date.now();
  const stopWatch = new AbortController();
  const released = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    void watchCollection<V1Lease>(
      kube.kc,
      {
        path: `/apis/coordination.k8s.io/v1/namespaces/${target.namespace}/leases`,
        fieldSelector: `metadata.name=${names.lease}`,
        list: () =>
          kube.coordination.listNamespacedLease({
            namespace: target.namespace,
            fieldSelector: `metadata.name=${names.lease}`,
          }),
      },
      (items) => {
        const current = items[0] ? leaseFrom(items[0]) : undefined;
        if (!current || current.holder !== holder || !isHeld(current, new Date())) {
          clearTimeout(timer);
          resolve(true);
        }
      },
      stopWatch.signal,
    );
  });
  stopWatch.abort();
  const activeColor = await currentActiveColor(kube, target);
  if (!released) {
    reporter.finish('wait', 'failed', `still held after ${formatDuration(timeoutMs)}`);
    reporter.close();
    throw new BluegreenError(
      ExitCode.other,
      `${holder} did not stop within ${formatDuration(timeoutMs)} (the request stays on the Lease; it stops at its next step)`,
      `If that process is gone, its lock expires by itself (bluegreen status ${target.service} shows when); traffic is on ${activeColor ?? '?'}.`,
    );
  }
  reporter.finish('wait', 'done', `after ${formatDuration(Date.now() - started)}`);
  reporter.close();
  return {
    exitCode: ExitCode.ok,
    data: { ...base, result: 'aborted', holder, activeColor },
    text: [`${holder} stopped and released the lock; ${names.activeService} serves ${activeColor ?? '?'}.`],
  };
}
