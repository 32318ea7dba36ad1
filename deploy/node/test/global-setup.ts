// Global setup of the `node` tier: the local cluster with its real node (make
// k8s-up) and the host's Postgres and Kafka (make infra-up) must be there; the
// images are built (cached) and imported into the node, and one release of the
// shop is installed for every file of the tier, then removed. Fails with what to
// run; never skips.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { Cluster, kubeconfig, loadVersions, repoRoot, run } from '../../helm/test/tools.js';
import { localUp, type NodeShop, releaseEnv } from './release.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const k = new Cluster(loadVersions());
  const ready = await run(k.tools.KUBECTL as string, ['get', '--raw', '/readyz', '--request-timeout=10s']);
  if (ready.code !== 0) {
    throw new Error(
      `the API server in ${kubeconfig} does not answer: start the local cluster with \`make k8s-up\``,
    );
  }
  const nodes = await k.list('nodes', 'default', 'type=real');
  const node = nodes.find((n) =>
    n.status?.conditions?.some(
      (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
    ),
  );
  if (!node) {
    throw new Error(
      'the local cluster has no Ready real node (type=real): restart it with `make k8s-down k8s-up`',
    );
  }
  const infra = await run(join(repoRoot, 'scripts/infra.sh'), ['status']);
  if (infra.code !== 0)
    throw new Error(`Postgres and Kafka are not running: \`make infra-up\`\n${infra.stdout}`);

  // One tag for the whole run, however the tree changes meanwhile.
  const tag = (await run(join(repoRoot, 'scripts/images.sh'), ['tag'])).stdout.trim();
  const images = await run(localUp, ['images'], { timeoutMs: 3_600_000, env: { SHOP_IMAGE_TAG: tag } });
  if (images.code !== 0)
    throw new Error(`building or importing the images failed:\n${images.stderr.slice(-4000)}`);
  const release = 'nt';
  const shop: NodeShop = {
    namespace: `node-test-${randomBytes(3).toString('hex')}`,
    release,
    tag,
    dbPrefix: `${release}_k8s`,
    topicPrefix: `${release}.k8s.`,
    nodeName: node.metadata.name,
    nodeStateDir: process.env.SHOP_K8S_NODE_STATE_DIR ?? `/run/${node.metadata.name}`,
  };
  const installed = await run(localUp, ['install'], {
    env: { ...releaseEnv(shop), SHOP_IMAGE_TAG: tag },
    timeoutMs: 1_200_000,
  });
  if (installed.code !== 0) {
    await run(localUp, ['uninstall'], { env: releaseEnv(shop), timeoutMs: 600_000 });
    throw new Error(`installing the shop on the real node failed:\n${installed.stderr.slice(-4000)}`);
  }
  project.provide('nodeShop', shop);
  return async () => {
    await run(localUp, ['uninstall'], { env: releaseEnv(shop), timeoutMs: 600_000 });
  };
}
