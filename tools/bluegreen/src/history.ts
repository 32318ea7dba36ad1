// The cutover history, kept on the cluster: ConfigMap <release>-<service>-bluegreen-history,
// key history.json, newest first, bounded; and the last cutover as an annotation
// on the active Service (docs/bluegreen-conventions.md).
import type { CoreV1Api } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './kube.js';
import type { Cutover } from './model.js';
import {
  HISTORY_KEY,
  HISTORY_LIMIT,
  INSTANCE_LABEL,
  NAME_LABEL,
  type ObjectNames,
  PART_OF_LABEL,
  type Target,
} from './names.js';

export function parseHistory(raw: string | undefined): Cutover[] {
  if (!raw) return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? (parsed as Cutover[]) : [];
  } catch {
    return [];
  }
}

/** Newest first, at most `limit` entries. */
export function prependCutover(history: Cutover[], entry: Cutover, limit = HISTORY_LIMIT): Cutover[] {
  return [entry, ...history].slice(0, limit);
}

export async function readHistory(core: CoreV1Api, target: Target, names: ObjectNames): Promise<Cutover[]> {
  try {
    const cm = await core.readNamespacedConfigMap({ name: names.history, namespace: target.namespace });
    return parseHistory(cm.data?.[HISTORY_KEY]);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Appends with optimistic concurrency: a concurrent writer makes us re-read, never lose its entry. */
export async function appendHistory(
  core: CoreV1Api,
  target: Target,
  names: ObjectNames,
  entry: Cutover,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const cm = await core.readNamespacedConfigMap({ name: names.history, namespace: target.namespace });
      const history = prependCutover(parseHistory(cm.data?.[HISTORY_KEY]), entry);
      cm.data = { ...(cm.data ?? {}), [HISTORY_KEY]: JSON.stringify(history, null, 1) };
      await core.replaceNamespacedConfigMap({ name: names.history, namespace: target.namespace, body: cm });
      return;
    } catch (error) {
      if (isConflict(error)) continue;
      if (!isNotFound(error)) throw error;
      try {
        await core.createNamespacedConfigMap({
          namespace: target.namespace,
          body: {
            metadata: {
              name: names.history,
              labels: {
                [NAME_LABEL]: target.service,
                [INSTANCE_LABEL]: target.release,
                [PART_OF_LABEL]: 'shop',
                'app.kubernetes.io/managed-by': 'bluegreen',
              },
            },
            data: { [HISTORY_KEY]: JSON.stringify([entry], null, 1) },
          },
        });
        return;
      } catch (createError) {
        if (!isConflict(createError) && !isAlreadyExists(createError)) throw createError;
      }
    }
  }
  throw new Error(`could not update ConfigMap ${names.history}: too many concurrent writers`);
}

function isAlreadyExists(error: unknown): boolean {
  return (error as { code?: number }).code === 409;
}
