// Watching instead of polling: list once, then follow the watch stream from that
// resourceVersion, re-listing when the server says the version is too old (410)
// and re-watching when the stream ends. The caller gets the whole current set on
// every change and decides from it (the decisions are pure functions).
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { sleep } from './checks.js';

export interface Named {
  metadata?: { name?: string; resourceVersion?: string };
}

export interface WatchSpec<T extends Named> {
  /** e.g. /apis/apps/v1/namespaces/ns/deployments */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
}

export function watchCollection<T extends Named>(
  kc: KubeConfig,
  spec: WatchSpec<T>,
  onChange: (items: T[]) => void,
  signal: AbortSignal,
  onError: (error: unknown) => void = () => undefined,
): Promise<void> {
  const watch = new Watch(kc);
  const items = new Map<string, T>();
  const emit = () => onChange([...items.values()]);

  const watchOnce = (resourceVersion: string | undefined) =>
    new Promise<{ gone: boolean; resourceVersion: string | undefined }>((resolve) => {
      let rv = resourceVersion;
      let gone = false;
      let controller: AbortController | undefined;
      const stop = () => controller?.abort();
      signal.addEventListener('abort', stop, { once: true });
      const finish = (error: unknown) => {
        signal.removeEventListener('abort', stop);
        if (error && !signal.aborted) {
          if ((error as { statusCode?: number }).statusCode === 410) gone = true;
          else onError(error);
        }
        resolve({ gone, resourceVersion: rv });
      };
      watch
        .watch(
          spec.path,
          {
            resourceVersion: rv,
            allowWatchBookmarks: true,
            timeoutSeconds: 60,
            labelSelector: spec.labelSelector,
            fieldSelector: spec.fieldSelector,
          },
          (type: string, object: T & { code?: number }) => {
            if (type === 'ERROR') {
              if (object.code === 410) gone = true;
              stop();
              return;
            }
            rv = object.metadata?.resourceVersion ?? rv;
            if (type === 'BOOKMARK') return;
            const name = object.metadata?.name ?? '';
            if (type === 'DELETED') items.delete(name);
            else items.set(name, object);
            emit();
          },
          finish,
        )
        .then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
        })
        .catch(finish);
    });

  return (async () => {
    while (!signal.aborted) {
      let resourceVersion: string | undefined;
      try {
        const list = await spec.list();
        items.clear();
        for (const item of list.items) items.set(item.metadata?.name ?? '', item);
        resourceVersion = list.metadata?.resourceVersion;
        emit();
      } catch (error) {
        if (signal.aborted) return;
        onError(error);
        await sleep(500, signal);
        continue;
      }
      while (!signal.aborted) {
        const result = await watchOnce(resourceVersion);
        if (result.gone) break;
        if (result.resourceVersion === resourceVersion) await sleep(200, signal);
        resourceVersion = result.resourceVersion;
      }
    }
  })();
}
