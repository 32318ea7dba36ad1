// The bluegreen integration tests run against the real local control plane
// (scripts/k8s.sh up: etcd, kube-apiserver, controller manager, scheduler, kwok).
// Started here when it is not running; when it cannot start, the run fails with
// what to do: it never skips.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import type { TestProject } from 'vitest/node';
// @ts-expect-error: a plain .mjs helper without types
import { build } from '../bin/build.mjs';
import { clients, kubeconfigPath, repoRoot } from './support/cluster.js';

async function reachable(): Promise<string | undefined> {
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    const version = await kc.makeApiClient(VersionApi).getCode();
    return version.gitVersion;
  } catch {
    return undefined;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Labels this run's namespaces, so the teardown only deletes its own. */
    bluegreenRun: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const run = randomBytes(4).toString('hex');
  project.provide('bluegreenRun', run);
  let version = await reachable();
  if (!version) {
    const script = path.join(repoRoot, 'scripts/k8s.sh');
    process.stderr.write(
      'bluegreen tests: the local control plane is not running; starting it (scripts/k8s.sh up)\n',
    );
    const up = spawnSync(script, ['up'], { cwd: repoRoot, encoding: 'utf8', timeout: 600_000 });
    version = await reachable();
    if (!version) {
      const output = `${up.stdout ?? ''}${up.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new Error(
        `the local Kubernetes control plane is not reachable with ${kubeconfigPath()} and \`scripts/k8s.sh up\` could not start it (exit ${up.status}):\n${output}\nBuild the binaries with \`make k8s-tools\`, start it with \`make k8s-up\`, and see scripts/k8s/README.md.`,
      );
    }
  }
  process.stderr.write(`bluegreen tests: Kubernetes ${version} at ${kubeconfigPath()}\n`);
  // One bundle before the tests start many CLI processes at once.
  await build();
  return async () => {
    // A safety net: every test file deletes its namespace; a crashed one may not have.
    const c = clients();
    const left = await c.core.listNamespace({ labelSelector: `shop.example/test-run=${run}` });
    await Promise.all(
      left.items.map((ns) => c.core.deleteNamespace({ name: ns.metadata!.name! }).catch(() => undefined)),
    );
  };
}
