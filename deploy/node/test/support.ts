// The real-node tier's view of the shop it runs against: one release installed
// by the global setup (scripts/local-up.sh install) in a namespace of its own,
// with the host's Postgres and Kafka. Pods on the real node are reached on the
// node's bridge (pod IPs, ClusterIPs through kube-proxy): the network guard
// allows that, and only that, besides 127.0.0.1.
import { join } from 'node:path';
import { coloredServices, databaseServices, system } from '@shop/contracts';
import { infra } from '@shop/testkit';
import { inject } from 'vitest';
import { Cluster, type KubeObject, loadVersions, ok, repoRoot, run } from '../../helm/test/tools.js';
import type { NodeShop } from './release.js';

export { eventually, type KubeObject, repoRoot } from '../../helm/test/tools.js';
export { localUp, type NodeShop, releaseEnv } from './release.js';

export const bluegreenBin = join(repoRoot, 'tools/bluegreen/bin/bluegreen.mjs');

export const DB_SERVICES = databaseServices;
export const COLOR_SERVICES = coloredServices;
export const PORTS: Record<string, number> = Object.fromEntries(
  Object.entries(system).map(([name, service]) => [name, service.port]),
);

export function shop(): NodeShop {
  return inject('nodeShop');
}

export function cluster(): Cluster {
  return new Cluster(loadVersions());
}

/** A service's database on the host's Postgres, as its owner (for the checks, never the pods). */
export function databaseUrl(s: NodeShop, service: string): string {
  const admin = new URL(infra().adminDatabaseUrl);
  return `postgresql://${service}:${service}@${admin.hostname}:${admin.port}/${s.dbPrefix}_${service}`;
}

export async function pods(k: Cluster, s: NodeShop, selector: string): Promise<KubeObject[]> {
  return k.list('pods', s.namespace, selector);
}

/** The pods of one color of one service (the labels docs/bluegreen-conventions.md gives them). */
export function colorSelector(s: NodeShop, service: string, color?: 'blue' | 'green'): string {
  return [
    `app.kubernetes.io/instance=${s.release}`,
    `app.kubernetes.io/name=${service}`,
    'app.kubernetes.io/component=service',
    ...(color ? [`shop.example/color=${color}`] : []),
  ].join(',');
}

export async function activeColor(k: Cluster, s: NodeShop, service: string): Promise<'blue' | 'green'> {
  const svc = await k.get<KubeObject>(['service', `${s.release}-${service}`, '-n', s.namespace]);
  return svc.spec.selector['shop.example/color'];
}

export async function clusterIp(k: Cluster, s: NodeShop, service: string): Promise<string> {
  const svc = await k.get<KubeObject>(['service', `${s.release}-${service}`, '-n', s.namespace]);
  return svc.spec.clusterIP as string;
}

/** The gateway as a client in the cluster reaches it: its Service's ClusterIP, through kube-proxy. */
export async function gatewayUrl(k: Cluster, s: NodeShop): Promise<string> {
  return `http://${await clusterIp(k, s, 'gateway')}:${PORTS.gateway}`;
}

/** Runs the bluegreen CLI against the tier's namespace; returns its exit code and output. */
export async function bluegreen(s: NodeShop, args: string[], timeoutMs = 600_000) {
  return run(process.execPath, [bluegreenBin, ...args, '-n', s.namespace, '--release', s.release], {
    timeoutMs,
    env: { NO_COLOR: '1' },
  });
}

/** `kubectl exec` into a pod's first container. */
export function exec(k: Cluster, s: NodeShop, pod: string, command: string[]): Promise<string> {
  return k.kubectl(['exec', '-n', s.namespace, pod, '--', ...command]);
}

/** The host PID of a pod's container (containerd's task), for a real `kill -9` from outside. */
export async function containerPid(pod: KubeObject): Promise<number> {
  const tools = loadVersions();
  const id = String(pod.status.containerStatuses[0].containerID).replace(/^containerd:\/\//, '');
  const state = shop().nodeStateDir;
  const out = await ok(tools.CTR as string, [
    '--address',
    `${state}/containerd.sock`,
    '--namespace',
    'k8s.io',
    'tasks',
    'ls',
  ]);
  const row = out.split('\n').find((line) => line.startsWith(id));
  const pid = Number(row?.trim().split(/\s+/)[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no running task for container ${id}:\n${out}`);
  return pid;
}

/** Sum of a Prometheus counter's samples whose labels match, from a pod's /metrics. */
export async function counter(
  podIp: string,
  port: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (
    await fetch(`http://${podIp}:${port}/metrics`, { signal: AbortSignal.timeout(3000) })
  ).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Another name for a service's image in the node's containerd, so that `bluegreen deploy`
 * has a "new version" to roll out without a second build.
 */
export async function imageAlias(s: NodeShop, service: string, suffix: string): Promise<string> {
  const tools = loadVersions();
  const source = `localhost/shop-${service}:${s.tag}`;
  const alias = `${source}-${suffix}`;
  const ctr = [
    tools.CTR as string,
    '--address',
    `${s.nodeStateDir}/containerd.sock`,
    '--namespace',
    'k8s.io',
  ];
  const existing = await ok(ctr[0]!, [...ctr.slice(1), 'images', 'ls', '-q']);
  if (!existing.split('\n').includes(alias))
    await ok(ctr[0]!, [...ctr.slice(1), 'images', 'tag', source, alias]);
  return alias;
}

/** Which color's pods consume, from `bluegreen status -o json` (the pods' own reports). */
export async function consumersOf(s: NodeShop, service: string) {
  const result = await bluegreen(s, ['status', service, '-o', 'json']);
  if (result.code !== 0) throw new Error(`bluegreen status exited ${result.code}: ${result.stderr}`);
  const status = JSON.parse(result.stdout) as {
    services: {
      consumers: {
        consuming: string;
        colors: Record<'blue' | 'green', { reported: number; consuming: number }>;
      } | null;
    }[];
  };
  return status.services[0]?.consumers ?? null;
}
