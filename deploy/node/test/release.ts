// The release the real-node tier runs against, as the global setup installs it
// (kept apart from support.ts: the global setup runs outside the test workers,
// where the workspace's packages do not resolve to their sources).
import { join } from 'node:path';
import { repoRoot } from '../../helm/test/tools.js';

export interface NodeShop {
  namespace: string;
  release: string;
  /** The image tag every service runs at the start. */
  tag: string;
  /** Databases <dbPrefix>_<service> on the host's Postgres, topics <topicPrefix><topic>. */
  dbPrefix: string;
  topicPrefix: string;
  nodeName: string;
  /** containerd's state directory (its socket) on this machine. */
  nodeStateDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    nodeShop: NodeShop;
  }
}

export const localUp = join(repoRoot, 'scripts/local-up.sh');

/** The environment scripts/local-up.sh needs to act on the tier's release. */
export function releaseEnv(s: Pick<NodeShop, 'release' | 'namespace'>): Record<string, string> {
  return { SHOP_RELEASE: s.release, SHOP_NAMESPACE: s.namespace };
}
