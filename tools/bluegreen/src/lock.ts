// One cutover per service at a time: a coordination.k8s.io/v1 Lease
// (<release>-<service>-bluegreen) with holderIdentity, leaseDurationSeconds and
// renewTime, renewed while the operation runs. A holder that dies stops renewing
// and the Lease can be taken over once it expired. `bluegreen abort` annotates
// the Lease; the holder watches it and stops at its next step.
import { type CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { BluegreenError, ExitCode, type StopReason } from './errors.js';
import { isConflict, isNotFound, mergePatch } from './kube.js';
import { decideAcquire, renewIntervalMs } from './lock-decision.js';
import { leaseFrom, type ObservedLease } from './model.js';
import {
  ABORT_ANNOTATION,
  INSTANCE_LABEL,
  NAME_LABEL,
  type ObjectNames,
  OPERATION_ANNOTATION,
  PART_OF_LABEL,
  type Target,
} from './names.js';
import { watchCollection } from './watch.js';

export interface LockHeld {
  tookOverFrom: string | undefined;
}

export class ServiceLock {
  private resourceVersion = '';
  private renewedAt = 0;
  private held = false;
  private timer: NodeJS.Timeout | undefined;
  private watchStop: AbortController | undefined;
  private onStop: ((reason: StopReason) => void) | undefined;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly api: CoordinationV1Api,
    private readonly kc: KubeConfig,
    private readonly target: Target,
    private readonly names: ObjectNames,
    readonly identity: string,
    private readonly durationSeconds: number,
    private readonly operation: string,
  ) {}

  private get ref() {
    return { name: this.names.lease, namespace: this.target.namespace };
  }

  private async read(): Promise<ObservedLease | undefined> {
    try {
      return leaseFrom(await this.api.readNamespacedLease(this.ref));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private accept(lease: V1Lease): ObservedLease {
    const observed = leaseFrom(lease);
    this.resourceVersion = observed.resourceVersion;
    this.renewedAt = Date.now();
    this.held = true;
    return observed;
  }

  /** Takes the lock or fails at once (exit 5) naming the holder. */
  async acquire(): Promise<LockHeld> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const lease = await this.read();
      const now = new Date();
      const decision = decideAcquire(lease, this.identity, now);
      if (decision.action === 'refuse') {
        const secondsLeft = Math.max(0, Math.ceil((decision.expiresAt.getTime() - now.getTime()) / 1000));
        throw new BluegreenError(
          ExitCode.lockHeld,
          `another cutover of ${this.target.service} is in progress: the lock (Lease ${this.names.lease}) is held by ${decision.holder}${decision.operation ? `, doing: ${decision.operation}` : ''}`,
          `Wait for it to finish (bluegreen status ${this.target.service} shows the holder), or stop it with: bluegreen abort ${this.target.service} -n ${this.target.namespace}. If its process died, the lock expires in ${secondsLeft}s and can then be taken over.`,
          {
            holder: decision.holder,
            expiresAt: decision.expiresAt.toISOString(),
            operation: decision.operation,
          },
        );
      }
      const time = new V1MicroTime(now.getTime());
      try {
        if (decision.action === 'create') {
          this.accept(
            await this.api.createNamespacedLease({
              namespace: this.target.namespace,
              body: {
                metadata: {
                  name: this.names.lease,
                  labels: {
                    [NAME_LABEL]: this.target.service,
                    [INSTANCE_LABEL]: this.target.release,
                    [PART_OF_LABEL]: 'shop',
                    'app.kubernetes.io/managed-by': 'bluegreen',
                  },
                  annotations: { [OPERATION_ANNOTATION]: this.operation },
                },
                spec: {
                  holderIdentity: this.identity,
                  leaseDurationSeconds: this.durationSeconds,
                  acquireTime: time,
                  renewTime: time,
                  leaseTransitions: 0,
                },
              },
            }),
          );
          return { tookOverFrom: undefined };
        }
        // The resourceVersion makes this a compare-and-swap: two takers, one winner.
        this.accept(
          await this.api.patchNamespacedLease(
            {
              ...this.ref,
              body: {
                metadata: {
                  resourceVersion: lease!.resourceVersion,
                  annotations: { [OPERATION_ANNOTATION]: this.operation, [ABORT_ANNOTATION]: null },
                },
                spec: {
                  holderIdentity: this.identity,
                  leaseDurationSeconds: this.durationSeconds,
                  acquireTime: time,
                  renewTime: time,
                  leaseTransitions: (lease!.transitions ?? 0) + 1,
                },
              },
            },
            mergePatch,
          ),
        );
        return { tookOverFrom: decision.previousHolder };
      } catch (error) {
        // Someone else created or took it between our read and write: decide again.
        if (isConflict(error)) continue;
        throw error;
      }
    }
    throw new BluegreenError(
      ExitCode.lockHeld,
      `could not take the lock ${this.names.lease}: it keeps changing hands`,
      'Try again in a moment.',
    );
  }

  /**
   * Renews every third of the duration and watches the Lease for an abort
   * request. `onStop` is called once when the holder must stop: aborted, or the
   * lock was lost (taken over after we failed to renew in time).
   */
  keep(onStop: (reason: StopReason) => void): void {
    this.onStop = onStop;
    const interval = renewIntervalMs(this.durationSeconds);
    this.timer = setInterval(() => {
      void this.renew().catch(() => undefined);
    }, interval);
    this.timer.unref();
    this.watchStop = new AbortController();
    void watchCollection<V1Lease>(
      this.kc,
      {
        path: `/apis/coordination.k8s.io/v1/namespaces/${this.target.namespace}/leases`,
        fieldSelector: `metadata.name=${this.names.lease}`,
        list: () =>
          this.api.listNamespacedLease({
            namespace: this.target.namespace,
            fieldSelector: `metadata.name=${this.names.lease}`,
          }),
      },
      (items) => {
        const lease = items[0];
        if (!lease) return;
        this.inspect(leaseFrom(lease));
      },
      this.watchStop.signal,
    );
  }

  private inspect(lease: ObservedLease): void {
    if (!this.held) return;
    if (lease.holder !== this.identity) {
      this.stop({
        kind: 'lock-lost',
        message: `lost the lock to ${lease.holder ?? 'nobody'} (it was not renewed in time)`,
      });
    } else if (lease.abortRequest) {
      this.stop({ kind: 'aborted', message: `aborted by ${lease.abortRequest}` });
    }
  }

  private stop(reason: StopReason): void {
    const onStop = this.onStop;
    this.onStop = undefined;
    onStop?.(reason);
  }

  /** Renews now (also the fence right before the switch: we still hold it, nobody asked us to stop). */
  async renew(): Promise<void> {
    if (!this.held) return;
    if (this.renewing) return this.renewing;
    this.renewing = (async () => {
      try {
        for (let attempt = 0; attempt < 3; attempt += 1) {
          try {
            const lease = await this.api.patchNamespacedLease(
              {
                ...this.ref,
                body: {
                  metadata: { resourceVersion: this.resourceVersion },
                  spec: { renewTime: new V1MicroTime(Date.now()) },
                },
              },
              mergePatch,
            );
            this.inspect(this.accept(lease));
            return;
          } catch (error) {
            if (!isConflict(error) && !isNotFound(error)) throw error;
            const current = await this.read();
            if (!current || current.holder !== this.identity) {
              this.held = false;
              this.stop({ kind: 'lock-lost', message: `lost the lock to ${current?.holder ?? 'nobody'}` });
              return;
            }
            this.resourceVersion = current.resourceVersion;
            this.inspect(current);
          }
        }
      } catch (error) {
        if (Date.now() - this.renewedAt > this.durationSeconds * 1000) {
          this.held = false;
          this.stop({
            kind: 'lock-lost',
            message: `could not renew the lock in time: ${(error as Error).message}`,
          });
        }
        throw error;
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  renewedWithin(ms: number): boolean {
    return this.held && Date.now() - this.renewedAt < ms;
  }

  /** True while our last renewal is recent enough that nobody else can have taken over. */
  get isHeld(): boolean {
    return this.held && Date.now() - this.renewedAt < this.durationSeconds * 1000;
  }

  /** Gives the lock up (best effort, bounded in time: Ctrl-C must not hang). */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.watchStop?.abort();
    this.onStop = undefined;
    if (!this.held) return;
    this.held = false;
    await this.renewing?.catch(() => undefined);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await this.api.patchNamespacedLease(
          {
            ...this.ref,
            body: {
              metadata: {
                resourceVersion: this.resourceVersion,
                annotations: { [OPERATION_ANNOTATION]: null, [ABORT_ANNOTATION]: null },
              },
              spec: { holderIdentity: null },
            },
          },
          mergePatch,
        );
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
        const current = await this.read();
        if (!current || current.holder !== this.identity) return;
        this.resourceVersion = current.resourceVersion;
      }
    }
  }
}

/** Asks the holder to stop: an annotation on the Lease it watches. */
export async function requestAbort(
  api: CoordinationV1Api,
  target: Target,
  names: ObjectNames,
  by: string,
): Promise<void> {
  await api.patchNamespacedLease(
    {
      name: names.lease,
      namespace: target.namespace,
      body: { metadata: { annotations: { [ABORT_ANNOTATION]: `${by} at ${new Date().toISOString()}` } } },
    },
    mergePatch,
  );
}

export async function readLease(
  api: CoordinationV1Api,
  target: Target,
  names: ObjectNames,
): Promise<ObservedLease | undefined> {
  try {
    return leaseFrom(await api.readNamespacedLease({ name: names.lease, namespace: target.namespace }));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
