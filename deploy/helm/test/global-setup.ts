// Global setup of the `k8s` vitest project: the chart tests need the binaries of
// `make k8s-tools` and a local API server answering (`make k8s-up`, or
// `make test-k8s`, which starts one). Fails with what to run; never skips.
import { existsSync } from 'node:fs';
import { kubeconfig, loadVersions, run } from './tools.js';

export default async function setup(): Promise<void> {
  const tools = loadVersions();
  if (!existsSync(kubeconfig)) {
    throw new Error(
      `no kubeconfig at ${kubeconfig}: start the local control plane with \`make k8s-up\` (or run \`make test-k8s\`)`,
    );
  }
  const ready = await run(tools.KUBECTL as string, ['get', '--raw', '/readyz', '--request-timeout=10s'], {
    timeoutMs: 20_000,
  });
  if (ready.code !== 0 || ready.stdout.trim() !== 'ok') {
    throw new Error(
      `the API server in ${kubeconfig} does not answer /readyz (${(ready.stderr || ready.stdout).trim()}): ` +
        'start it with `make k8s-up` (or run `make test-k8s`)',
    );
  }
  const nodes = await run(tools.KUBECTL as string, ['get', 'nodes', '-l', 'type=kwok', '-o', 'name']);
  if (nodes.code !== 0 || nodes.stdout.trim().split('\n').filter(Boolean).length === 0) {
    throw new Error('the local control plane has no kwok nodes: restart it with `make k8s-down k8s-up`');
  }
}
