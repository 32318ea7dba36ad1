// Test support: objects per docs/bluegreen-conventions.md in a namespace of the
// test's own (the tests do not depend on the chart), and the CLI as a process.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  type V1Deployment,
  type V1Service,
} from '@kubernetes/client-node';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const cliBin = path.join(repoRoot, 'tools/bluegreen/bin/bluegreen.mjs');

export function kubeconfigPath(): string {
  return process.env.BLUEGREEN_TEST_KUBECONFIG ?? path.join(repoRoot, '.run/k8s/kubeconfig');
}

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  coordination: CoordinationV1Api;
  discovery: DiscoveryV1Api;
}

export function clients(): Clients {
  const kc = new KubeConfig();
  const file = kubeconfigPath();
  if (!existsSync(file)) throw new Error(`no kubeconfig at ${file}: run make k8s-up`);
  kc.loadFromFile(file);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export async function createNamespace(c: Clients, prefix: string, run = 'manual'): Promise<string> {
  const name = uniqueName(`bg-${prefix}`);
  await c.core.createNamespace({
    body: { metadata: { name, labels: { 'shop.example/test': 'bluegreen', 'shop.example/test-run': run } } },
  });
  // The ServiceAccount controller creates `default` shortly after; pods need it
  // (without it the ReplicaSet controller backs off, which slows every test after).
  await waitFor(
    async () => {
      await c.core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return true;
    },
    60_000,
    `the default ServiceAccount of namespace ${name}`,
  );
  return name;
}

export async function deleteNamespace(c: Clients, name: string): Promise<void> {
  try {
    await c.core.deleteNamespace({ name });
  } catch {
    // already gone
  }
}

export interface BlueGreenSpec {
  namespace: string;
  release: string;
  service: string;
  activeColor?: 'blue' | 'green';
  images?: { blue: string; green: string };
  replicas?: { blue: number; green: number };
  progressDeadlineSeconds?: number;
}

const labels = (release: string, service: string) => ({
  'app.kubernetes.io/name': service,
  'app.kubernetes.io/instance': release,
  'app.kubernetes.io/part-of': 'shop',
});

export function deploymentManifest(spec: BlueGreenSpec, color: 'blue' | 'green'): V1Deployment {
  const { release, service } = spec;
  const colorLabels = { ...labels(release, service), 'shop.example/color': color };
  return {
    metadata: { name: `${release}-${service}-${color}`, labels: colorLabels },
    spec: {
      replicas: spec.replicas?.[color] ?? (color === (spec.activeColor ?? 'blue') ? 2 : 0),
      progressDeadlineSeconds: spec.progressDeadlineSeconds,
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': service,
          'app.kubernetes.io/instance': release,
          'shop.example/color': color,
        },
      },
      template: {
        metadata: { labels: colorLabels },
        spec: {
          // kwok runs no containers; the image only picks the simulated behaviour.
          containers: [
            {
              name: service,
              image: spec.images?.[color] ?? `registry.local/shop-${service}:1.0.0`,
              ports: [{ containerPort: 8080, name: 'http' }],
            },
          ],
        },
      },
    },
  };
}

function serviceManifest(
  spec: BlueGreenSpec,
  role: 'active' | 'preview',
  color: 'blue' | 'green',
): V1Service {
  const { release, service } = spec;
  return {
    metadata: {
      name: role === 'active' ? `${release}-${service}` : `${release}-${service}-preview`,
      labels: {
        'app.kubernetes.io/name': service,
        'app.kubernetes.io/instance': release,
        'shop.example/bluegreen': role,
      },
    },
    spec: {
      selector: {
        'app.kubernetes.io/name': service,
        'app.kubernetes.io/instance': release,
        'shop.example/color': color,
      },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    },
  };
}

/** The objects the chart would create for one service, and waits until the active color is ready. */
export async function createBlueGreen(c: Clients, spec: BlueGreenSpec): Promise<void> {
  const active = spec.activeColor ?? 'blue';
  const idle = active === 'blue' ? 'green' : 'blue';
  const { namespace } = spec;
  await Promise.all([
    c.apps.createNamespacedDeployment({ namespace, body: deploymentManifest(spec, 'blue') }),
    c.apps.createNamespacedDeployment({ namespace, body: deploymentManifest(spec, 'green') }),
    c.core.createNamespacedService({ namespace, body: serviceManifest(spec, 'active', active) }),
    c.core.createNamespacedService({ namespace, body: serviceManifest(spec, 'preview', idle) }),
  ]);
  await waitFor(
    async () => {
      const d = await c.apps.readNamespacedDeployment({
        name: `${spec.release}-${spec.service}-${active}`,
        namespace,
      });
      const want = d.spec?.replicas ?? 0;
      return (
        (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        (d.status?.availableReplicas ?? 0) === want
      );
    },
    // Generous: the machine is shared and the controllers can be slow under load.
    120_000,
    `${active} of ${spec.service} to become available`,
  );
  const want = spec.replicas?.[active] ?? 2;
  await waitFor(
    async () =>
      (await endpointColors(c, namespace, spec.release, spec.service)).filter((x) => x === active).length ===
      want,
    120_000,
    `the EndpointSlices of ${spec.release}-${spec.service} to list ${want} ${active} pods`,
  );
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function activeColor(
  c: Clients,
  namespace: string,
  release: string,
  service: string,
): Promise<string | undefined> {
  const svc = await c.core.readNamespacedService({ name: `${release}-${service}`, namespace });
  return svc.spec?.selector?.['shop.example/color'];
}

/** Pod names behind the active Service, by color, as the EndpointSlices list them. */
export async function endpointColors(
  c: Clients,
  namespace: string,
  release: string,
  service: string,
): Promise<string[]> {
  const slices = await c.discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `kubernetes.io/service-name=${release}-${service}`,
  });
  const pods = await c.core.listNamespacedPod({
    namespace,
    labelSelector: `app.kubernetes.io/name=${service}`,
  });
  const colorOf = new Map(
    pods.items.map((p) => [p.metadata?.name, p.metadata?.labels?.['shop.example/color']]),
  );
  return slices.items
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false)
    .map((e) => colorOf.get(e.targetRef?.name) ?? '?')
    .sort();
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stderr matches. */
  waitForStderr: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  done: Promise<CliResult>;
}

export function startCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [cliBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: kubeconfigPath(), NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of [...waiters]) {
      if (w.pattern.test(stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr: (pattern, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(stderr)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${pattern} in stderr:\n${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void done.then(() => {
          clearTimeout(timer);
          if (!pattern.test(stderr))
            reject(new Error(`the CLI exited before ${pattern} appeared:\n${stderr}`));
        });
      }),
    done,
  };
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

export function parseJson(result: CliResult): Record<string, unknown> {
  try {
    return JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(
      `not JSON on stdout (exit ${result.code}):\n${result.stdout}\n--- stderr:\n${result.stderr}`,
    );
  }
}
