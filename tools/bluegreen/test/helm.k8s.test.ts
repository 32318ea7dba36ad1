// The CLI with the real chart (deploy/helm/shop): it finds the release by the
// chart's labels, cuts over, and a plain `helm upgrade` afterwards keeps what the
// CLI did (active color, rolled-out image, scale, last cutover), per
// docs/bluegreen-conventions.md. Helm comes from ~/.cache/shop/k8s/versions.env.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  activeColor,
  type Clients,
  clients,
  createNamespace,
  deleteNamespace,
  endpointColors,
  kubeconfigPath,
  parseJson,
  repoRoot,
  runCli,
  waitFor,
} from './support/cluster.js';

const chartDir = path.join(repoRoot, 'deploy/helm/shop');
const release = 'shop';
// values-kind.yaml as `make up` uses it, with what the local control plane lacks:
// no volume provisioner (so no persistence; kwok runs no containers anyway) and
// NodePorts are unique cluster-wide (kind's 30080 may be taken by another test).
let values: string[] = [];

function helmBinary(): string {
  const file = path.join(
    process.env.SHOP_CACHE_DIR ?? path.join(homedir(), '.cache/shop'),
    'k8s/versions.env',
  );
  if (!existsSync(file))
    throw new Error(`${file} is missing: build the Kubernetes binaries with \`make k8s-tools\``);
  const helm = /^HELM=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1]?.replace(/^["']|["']$/g, '');
  if (!helm || !existsSync(helm))
    throw new Error(`HELM (${helm ?? 'unset'}) from ${file} does not exist: run \`make k8s-tools\``);
  return helm;
}

function helm(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(helmBinary(), args, {
      env: { ...process.env, KUBECONFIG: kubeconfigPath() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`helm ${args.join(' ')} exited ${code}:\n${err}${out}`)),
    );
  });
}

/** A NodePort no Service of the cluster uses (and not kind's 30080). */
async function freeNodePort(k: Clients): Promise<number> {
  const used = new Set<number>([30080]);
  for (const svc of (await k.core.listServiceForAllNamespaces()).items) {
    for (const port of svc.spec?.ports ?? []) if (port.nodePort) used.add(port.nodePort);
  }
  for (;;) {
    const candidate = 30000 + Math.floor(Math.random() * 2768);
    if (!used.has(candidate)) return candidate;
  }
}

let c: Clients;
let ns: string;

beforeAll(async () => {
  if (!existsSync(path.join(chartDir, 'Chart.yaml'))) {
    throw new Error(`the chart is not at ${chartDir}: this test needs deploy/helm/shop`);
  }
  c = clients();
  values = [
    '-f',
    path.join(chartDir, 'values-kind.yaml'),
    '--set',
    'postgres.persistence.enabled=false',
    '--set',
    'kafka.persistence.enabled=false',
    '--set',
    `services.gateway.service.nodePort=${await freeNodePort(c)}`,
  ];
  ns = await createNamespace(c, 'helm', inject('bluegreenRun'));
  // values-kind.yaml runs the chart's own infrastructure: the first install creates
  // it, the upgrade with the same values runs the migrations and the services.
  await helm(['install', release, chartDir, '-n', ns, ...values, '--wait', '--timeout', '300s']);
  await helm(['upgrade', release, chartDir, '-n', ns, ...values, '--wait', '--timeout', '300s']);
}, 700_000);

afterAll(async () => {
  if (ns) {
    await helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '120s']).catch(() => undefined);
    await deleteNamespace(c, ns);
  }
});

const cli = (...args: string[]) => runCli([...args, '-n', ns]);

describe('with the Helm chart', () => {
  it('status finds every service of the release by the chart labels', async () => {
    const result = await cli('status', '-o', 'json');
    expect(result.code, result.stderr).toBe(0);
    const { services } = parseJson(result) as {
      services: { service: string; release: string; activeColor: string }[];
    };
    expect(services.map((s) => s.service)).toEqual([
      'gateway',
      'inventory',
      'notifications',
      'orders',
      'payments',
      'shipping',
      'users',
    ]);
    expect(services.every((s) => s.release === release && s.activeColor === 'blue')).toBe(true);
  });

  it('a plain helm upgrade after a bluegreen deploy keeps the cutover', async () => {
    const deployed = await cli(
      'deploy',
      'users',
      '--image',
      'shop-users:cli-rollout',
      '--timeout',
      '120s',
      '-o',
      'json',
    );
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(parseJson(deployed)).toMatchObject({ activeColor: 'green', image: 'shop-users:cli-rollout' });
    const before = parseJson(await cli('status', 'users', '-o', 'json')) as {
      services: Record<string, unknown>[];
    };

    await helm(['upgrade', release, chartDir, '-n', ns, ...values, '--wait', '--timeout', '300s']);

    const after = parseJson(await cli('status', 'users', '-o', 'json')) as {
      services: Record<string, unknown>[];
    };
    expect(after.services[0]).toMatchObject({
      activeColor: 'green',
      previewColor: 'blue',
      colors: {
        green: {
          image: 'shop-users:cli-rollout',
          replicas: (before.services[0] as { colors: { green: { replicas: number } } }).colors.green.replicas,
        },
        blue: { image: (before.services[0] as { colors: { blue: { image: string } } }).colors.blue.image },
      },
      lastCutover: { from: 'blue', to: 'green', result: 'succeeded', action: 'deploy' },
    });
    await waitFor(
      async () => (await endpointColors(c, ns, release, 'users')).every((x) => x === 'green'),
      30_000,
      'the users EndpointSlices to stay on green',
    );
    expect(await activeColor(c, ns, release, 'users')).toBe('green');

    // And the old color is still there for an instant rollback, history intact.
    const rollback = await cli('rollback', 'users', '-o', 'json');
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(parseJson(rollback)).toMatchObject({ activeColor: 'blue' });
    const history = parseJson(await cli('history', 'users', '-o', 'json')) as {
      history: { action: string }[];
    };
    expect(history.history.map((h) => h.action)).toEqual(['rollback', 'deploy']);
  });
});
