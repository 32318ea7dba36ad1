// Cutover benchmark on the local control plane (make k8s-up): N deploys, each
// followed by a rollback, of one service with the objects of
// docs/bluegreen-conventions.md in a namespace of its own (deleted afterwards).
//
//   node --import tsx tools/bluegreen/bench/cutover.ts [--cutovers 30] [--replicas 3]
//
// Measures, each as p50/p99/min/max:
//   - cutover latency: from just before the selector patch until the EndpointSlices
//     list only ready pods of the new color, as the CLI measures it, and as an
//     independent watcher here sees it (Service event with the new selector until
//     the EndpointSlice event that shows only the new color);
//   - rollback latency: the same for `bluegreen rollback`, and the command's wall time;
//   - the CLI's own overhead: deploy wall time (process start to exit) minus the time
//     spent waiting for the new color to become ready, also split into process
//     start-up (node, bundle, kubeconfig, finding the release) and in-command work.
// Writes tools/bluegreen/bench/results/cutover.json. Only 127.0.0.1 is contacted
// (the API server); the pods are kwok's, nothing connects to them.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { VersionApi } from '@kubernetes/client-node';
// @ts-expect-error: a plain .mjs helper without types
import { build } from '../bin/build.mjs';
import { watchCollection } from '../src/watch.js';
import {
  clients,
  createBlueGreen,
  createNamespace,
  deleteNamespace,
  kubeconfigPath,
} from '../test/support/cluster.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../bin/bluegreen.mjs');
const { values } = parseArgs({
  options: {
    cutovers: { type: 'string', default: '30' },
    replicas: { type: 'string', default: '3' },
    out: { type: 'string', default: path.join(here, 'results/cutover.json') },
  },
});
const rounds = Number(values.cutovers);
const replicas = Number(values.replicas);
const release = 'bench';
const service = 'users';

interface Run {
  code: number | null;
  wallMs: number;
  json: Record<string, unknown>;
  stderr: string;
}

function runCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfigPath(), BLUEGREEN_ACTOR: 'bench' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(stdout);
      } catch {
        // reported below through the exit code
      }
      resolve({ code, wallMs, json, stderr });
    });
  });
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest-rank percentiles: with 30 samples p99 is the largest one.
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    n: sorted.length,
    p50: round(at(50)),
    p90: round(at(90)),
    p99: round(at(99)),
    min: round(sorted[0] ?? Number.NaN),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length)),
  };
}

/** Watches the Service and its EndpointSlices: when did the selector change, when did the slices follow. */
function observer(c: ReturnType<typeof clients>, namespace: string, signal: AbortSignal) {
  let selectorColor: string | undefined;
  let selectorAt = 0;
  let slices: V1EndpointSlice[] = [];
  let pods: V1Pod[] = [];
  const waiters: { color: string; since: number; resolve: (ms: number) => void }[] = [];
  const check = () => {
    const colorOf = new Map(pods.map((p) => [p.metadata?.name, p.metadata?.labels?.['shop.example/color']]));
    const endpoints = slices.flatMap((s) => s.endpoints ?? []);
    for (const w of [...waiters]) {
      if (selectorColor !== w.color || selectorAt < w.since) continue;
      const only =
        endpoints.length === replicas &&
        endpoints.every((e) => e.conditions?.ready !== false && colorOf.get(e.targetRef?.name) === w.color);
      if (only) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(performance.now() - selectorAt);
      }
    }
  };
  void watchCollection<V1Service>(
    c.kc,
    {
      path: `/api/v1/namespaces/${namespace}/services`,
      fieldSelector: `metadata.name=${release}-${service}`,
      list: () =>
        c.core.listNamespacedService({ namespace, fieldSelector: `metadata.name=${release}-${service}` }),
    },
    (items) => {
      const color = items[0]?.spec?.selector?.['shop.example/color'];
      if (color !== selectorColor) {
        selectorColor = color;
        selectorAt = performance.now();
      }
      check();
    },
    signal,
  );
  const sliceSelector = `kubernetes.io/service-name=${release}-${service}`;
  void watchCollection<V1EndpointSlice>(
    c.kc,
    {
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      labelSelector: sliceSelector,
      list: () => c.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: sliceSelector }),
    },
    (items) => {
      slices = items;
      check();
    },
    signal,
  );
  void watchCollection<V1Pod>(
    c.kc,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector: `app.kubernetes.io/name=${service}`,
      list: () => c.core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=${service}` }),
    },
    (items) => {
      pods = items;
      check();
    },
    signal,
  );
  /** Resolves with the observed switch time once `color` is selected and alone in the slices. */
  return (color: string) =>
    new Promise<number>((resolve) => {
      waiters.push({ color, since: performance.now(), resolve });
      check();
    });
}

async function main(): Promise<void> {
  const c = clients();
  const version = (await c.kc.makeApiClient(VersionApi).getCode()).gitVersion;
  await build();
  const namespace = await createNamespace(c, 'bench');
  const stop = new AbortController();
  const cleanup = async () => {
    stop.abort();
    await deleteNamespace(c, namespace);
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });
  const loadBefore = os.loadavg();
  const samples = {
    deployCutoverMs: [] as number[],
    deployObservedCutoverMs: [] as number[],
    rollbackCutoverMs: [] as number[],
    rollbackObservedCutoverMs: [] as number[],
    rollbackWallMs: [] as number[],
    deployWallMs: [] as number[],
    deployWaitReadyMs: [] as number[],
    deployOverheadMs: [] as number[],
    deployOverheadOutsideWaitsMs: [] as number[],
    startupMs: [] as number[],
  };
  try {
    await createBlueGreen(c, {
      namespace,
      release,
      service,
      images: { blue: 'registry.local/shop-users:0', green: 'registry.local/shop-users:0' },
      replicas: { blue: replicas, green: 0 },
    });
    const observed = observer(c, namespace, stop.signal);
    const active = 'blue';
    for (let i = 1; i <= rounds; i += 1) {
      const target = active === 'blue' ? 'green' : 'blue';
      const seenDeploy = observed(target);
      const deploy = await runCli([
        'deploy',
        service,
        '-n',
        namespace,
        '--image',
        `registry.local/shop-users:${i}`,
        '-o',
        'json',
      ]);
      if (deploy.code !== 0) throw new Error(`deploy ${i} exited ${deploy.code}:\n${deploy.stderr}`);
      const t = deploy.json.timings as Record<string, number>;
      samples.deployCutoverMs.push(t.cutoverMs!);
      samples.deployObservedCutoverMs.push(await seenDeploy);
      samples.deployWallMs.push(deploy.wallMs);
      samples.deployWaitReadyMs.push(t['wait-ready']!);
      samples.deployOverheadMs.push(deploy.wallMs - t['wait-ready']!);
      samples.deployOverheadOutsideWaitsMs.push(deploy.wallMs - t['wait-ready']! - t.cutoverMs!);
      samples.startupMs.push(deploy.wallMs - t.totalMs!);

      const seenRollback = observed(active);
      const rollback = await runCli(['rollback', service, '-n', namespace, '-o', 'json']);
      if (rollback.code !== 0) throw new Error(`rollback ${i} exited ${rollback.code}:\n${rollback.stderr}`);
      samples.rollbackCutoverMs.push((rollback.json.timings as Record<string, number>).cutoverMs!);
      samples.rollbackObservedCutoverMs.push(await seenRollback);
      samples.rollbackWallMs.push(rollback.wallMs);
      process.stderr.write(
        `round ${i}/${rounds}: deploy ${Math.round(deploy.wallMs)}ms (ready ${t['wait-ready']}ms, cutover ${t.cutoverMs}ms), rollback ${Math.round(rollback.wallMs)}ms (cutover ${(rollback.json.timings as Record<string, number>).cutoverMs}ms)\n`,
      );
    }
  } finally {
    await cleanup();
  }
  const result = {
    benchmark: 'bluegreen cutover',
    at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      kubernetes: version,
      loadavgBefore: loadBefore.map((x) => Math.round(x * 100) / 100),
      loadavgAfter: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    setup: { rounds, cutovers: rounds * 2, replicas, nodes: 'kwok (3 fake nodes)' },
    results: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])),
    definitions: {
      deployCutoverMs:
        'CLI: selector patch sent -> EndpointSlices list only ready pods of the new color (deploy)',
      deployObservedCutoverMs:
        'independent watcher: Service event with the new selector -> EndpointSlice event showing only the new color',
      rollbackCutoverMs: 'CLI: the same for bluegreen rollback',
      rollbackObservedCutoverMs: 'independent watcher, for rollback',
      rollbackWallMs: 'bluegreen rollback, process start to exit',
      deployWallMs: 'bluegreen deploy, process start to exit',
      deployWaitReadyMs: 'time waiting for the new color to become ready (kwok marks pods Ready at once)',
      deployOverheadMs:
        'deployWallMs - deployWaitReadyMs: the CLI beyond waiting for readiness (includes the endpoint propagation wait)',
      deployOverheadOutsideWaitsMs:
        'deployWallMs - deployWaitReadyMs - deployCutoverMs: neither readiness nor endpoint propagation',
      startupMs: 'deployWallMs - the command total: node start, bundle load, kubeconfig, finding the release',
    },
  };
  mkdirSync(path.dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
  const rows = Object.entries(result.results).map(
    ([k, s]) =>
      `${k.padEnd(30)} p50 ${String(s.p50).padStart(8)}  p99 ${String(s.p99).padStart(8)}  (min ${s.min}, max ${s.max}, n ${s.n})`,
  );
  process.stdout.write(`${rows.join('\n')}\nwritten to ${values.out}\n`);
}

await main();
