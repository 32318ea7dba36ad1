// How a pod learns which color is active: it watches its service's active
// Service, whose selector's shop.example/color is the one truth about that
// (docs/bluegreen-conventions.md), with a read-only Role that names only that
// Service. And how it tells others whether it consumes: one key per pod in the
// ConfigMap <release>-<service>-consumers, which `bluegreen status` reads.
//
// @kubernetes/client-node is loaded only when a pod follows a color: importing it
// costs every process about 22 MiB of live heap, 80 MiB of RSS and a third of a
// second of CPU (measured on Node 24), for code that outside a blue-green pod
// never runs. Hence the type-only import and kubernetes() below.
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { FastifyBaseLogger as Logger } from 'fastify';
import { fullJitterDelay, sleep } from './backoff.js';
import type { ActiveColorSource, Color } from './consumption-gate.js';

export const COLOR_LABEL = 'shop.example/color';

type Kubernetes = typeof import('@kubernetes/client-node');
let loading: Promise<Kubernetes> | undefined;
/** The Kubernetes client, imported on first use (see the top of this file). */
function kubernetes(): Promise<Kubernetes> {
  loading ??= import('@kubernetes/client-node');
  return loading;
}

/** The color a Service's selector picks, or null when it picks none (or not blue/green). */
export function selectedColor(
  service: { spec?: { selector?: Record<string, string> } } | undefined,
): Color | null {
  const color = service?.spec?.selector?.[COLOR_LABEL];
  return color === 'blue' || color === 'green' ? color : null;
}

export interface ActiveServiceOptions {
  namespace: string;
  /** The active Service, R-S. */
  service: string;
  logger: Logger;
  /** In a pod: the service account; elsewhere $KUBECONFIG. */
  kubeConfig?: KubeConfig;
  /** A full read now and then, in case a watch event was ever missed. */
  resyncMs?: number;
}

/** Follows the active Service: a read, then a watch from that version, again after any end. */
export class ActiveServiceWatch implements ActiveColorSource {
  readonly #options: ActiveServiceOptions;
  readonly #log: Logger;
  readonly #stopping = new AbortController();
  #watch: AbortController | undefined;
  #done: Promise<void> | undefined;

  constructor(options: ActiveServiceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'active-color', service: options.service });
  }

  async follow(onActive: (active: Color | null) => void, firstAnswerMs: number): Promise<void> {
    let answered: () => void = () => undefined;
    const first = new Promise<void>((resolve) => {
      answered = resolve;
    });
    let last: Color | null | undefined;
    const tell = (active: Color | null) => {
      answered();
      if (active === last) return;
      last = active;
      onActive(active);
    };
    const k8s = await kubernetes();
    const kc = this.#options.kubeConfig ?? defaultKubeConfig(k8s);
    this.#done = this.#loop(tell, k8s, kc);
    await Promise.race([first, sleep(firstAnswerMs, this.#stopping.signal).catch(() => undefined)]);
  }

  async stop(): Promise<void> {
    this.#stopping.abort(new Error('stopping'));
    this.#watch?.abort();
    await this.#done;
  }

  async #loop(tell: (active: Color | null) => void, k8s: Kubernetes, kc: KubeConfig): Promise<void> {
    const { namespace, service } = this.#options;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const path = `/api/v1/namespaces/${namespace}/services`;
    for (let attempt = 0; !this.#stopping.signal.aborted; ) {
      try {
        const version = await this.#read(core, tell);
        attempt = 0;
        await new Promise<void>((resolve, reject) => {
          const resync = setTimeout(() => this.#watch?.abort(), this.#options.resyncMs ?? 60_000);
          const finish = (error?: unknown) => {
            clearTimeout(resync);
            if (error && !this.#stopping.signal.aborted && (error as Error).name !== 'AbortError')
              reject(error);
            else resolve();
          };
          new k8s.Watch(kc)
            .watch(
              path,
              {
                fieldSelector: `metadata.name=${service}`,
                resourceVersion: version,
                allowWatchBookmarks: true,
              },
              (phase, object) => {
                if (phase === 'ADDED' || phase === 'MODIFIED') tell(selectedColor(object));
                else if (phase === 'DELETED') tell(null);
              },
              finish,
            )
            .then((controller) => {
              this.#watch = controller;
              if (this.#stopping.signal.aborted) controller.abort();
            }, finish);
        });
      } catch (error) {
        if (this.#stopping.signal.aborted) break;
        const delay = fullJitterDelay(attempt++, { baseMs: 500, capMs: 10_000 });
        this.#log.warn(
          { err: error, delayMs: delay },
          'cannot read the active Service; keeping what was known',
        );
        await sleep(delay, this.#stopping.signal).catch(() => undefined);
      }
    }
  }

  /** Reads the Service, tells its color, and returns the version to watch from. */
  async #read(core: CoreV1Api, tell: (active: Color | null) => void): Promise<string | undefined> {
    const { namespace, service } = this.#options;
    try {
      const found = await core.readNamespacedService({ name: service, namespace });
      tell(selectedColor(found));
      return found.metadata?.resourceVersion;
    } catch (error) {
      if ((error as { code?: number }).code === 404) {
        tell(null);
        return undefined;
      }
      throw error;
    }
  }
}

/** Writes this pod's entry (consuming or not) into the consumers ConfigMap; removes it when asked. */
export function consumerReporter(options: {
  namespace: string;
  configMap: string;
  pod: string;
  color: Color;
  kubeConfig?: KubeConfig;
}): (consuming: boolean | 'gone') => Promise<void> {
  let client: Promise<{ core: CoreV1Api; k8s: Kubernetes }> | undefined;
  const connect = async () => {
    const k8s = await kubernetes();
    return { k8s, core: (options.kubeConfig ?? defaultKubeConfig(k8s)).makeApiClient(k8s.CoreV1Api) };
  };
  return async (consuming) => {
    client ??= connect();
    const { core, k8s } = await client;
    const entry =
      consuming === 'gone'
        ? null
        : JSON.stringify({ color: options.color, consuming, since: new Date().toISOString() });
    await core.patchNamespacedConfigMap(
      { name: options.configMap, namespace: options.namespace, body: { data: { [options.pod]: entry } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  };
}

function defaultKubeConfig(k8s: Kubernetes): KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The variables the chart sets on a blue-green pod (config.ts, blueGreenEnv). */
export interface BlueGreenEnv {
  BLUEGREEN_COLOR?: Color | undefined;
  BLUEGREEN_ACTIVE_SERVICE?: string | undefined;
  BLUEGREEN_CONSUMERS_CONFIGMAP?: string | undefined;
  POD_NAMESPACE?: string | undefined;
  POD_NAME?: string | undefined;
}

/**
 * What the consumption gate follows in a blue-green pod, or undefined when the
 * process is not one (no BLUEGREEN_COLOR): then it always consumes.
 */
export function followActiveColor(
  env: BlueGreenEnv,
  logger: Logger,
):
  | { color: Color; source: ActiveColorSource; report?: (consuming: boolean | 'gone') => Promise<void> }
  | undefined {
  const color = env.BLUEGREEN_COLOR;
  const service = env.BLUEGREEN_ACTIVE_SERVICE;
  if (!color || !service) return undefined;
  const namespace = env.POD_NAMESPACE ?? 'default';
  const configMap = env.BLUEGREEN_CONSUMERS_CONFIGMAP;
  const pod = env.POD_NAME;
  return {
    color,
    source: new ActiveServiceWatch({ namespace, service, logger }),
    ...(configMap && pod ? { report: consumerReporter({ namespace, configMap, pod, color }) } : {}),
  };
}
