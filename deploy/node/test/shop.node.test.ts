// The shop in real pods, as the chart says: read back from the real node (pod
// status, events, logs, the containers themselves) rather than from the
// manifests. The release is the tier's (global-setup.ts).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { kubeconfig } from '../../helm/test/tools.js';
import {
  COLOR_SERVICES,
  cluster,
  colorSelector,
  DB_SERVICES,
  databaseUrl,
  eventually,
  exec,
  gatewayUrl,
  type KubeObject,
  pods,
  repoRoot,
  shop,
} from './support.js';

const k = cluster();
const s = shop();

interface ContainerStatus {
  name: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: Record<string, { exitCode?: number; reason?: string }>;
  lastState: Record<string, unknown>;
}

let servicePods: KubeObject[] = [];

beforeAll(async () => {
  servicePods = await pods(
    k,
    s,
    `app.kubernetes.io/instance=${s.release},app.kubernetes.io/component=service`,
  );
});

describe('the shop on the real node', () => {
  it('runs every service in pods on the real node, Running, Ready, never restarted', () => {
    const seen = new Set<string>();
    for (const pod of servicePods) {
      const name = pod.metadata.name;
      expect(pod.spec.nodeName, name).toBe(s.nodeName);
      expect(pod.status.phase, name).toBe('Running');
      expect(pod.status.podIP, name).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const ready = pod.status.conditions.find((c: { type: string }) => c.type === 'Ready');
      expect(ready?.status, name).toBe('True');
      for (const container of pod.status.containerStatuses as ContainerStatus[]) {
        expect(container.ready, name).toBe(true);
        expect(container.started, name).toBe(true);
        expect(container.restartCount, name).toBe(0);
        expect(container.state.running, name).toBeDefined();
      }
      seen.add(
        `${pod.metadata.labels?.['app.kubernetes.io/name']}/${pod.metadata.labels?.['shop.example/color']}`,
      );
    }
    // values-real-node.yaml starts the preview color at 0 replicas: the active one is blue.
    for (const service of COLOR_SERVICES) expect(seen).toContain(`${service}/blue`);
  });

  it('passed every probe once started: no liveness failure, no readiness failure after Ready, no kill or back-off', async () => {
    // A process may fail its startup probe while it starts, and its readiness probe until
    // its dependencies answer (that is what they are for); after that, nothing may fail.
    const readySince = new Map<string, number>();
    for (const pod of servicePods) {
      const ready = pod.status.conditions.find((c: { type: string }) => c.type === 'Ready');
      readySince.set(pod.metadata.name, Date.parse(ready.lastTransitionTime));
    }
    const events = await k.list('events', s.namespace);
    const bad = events.filter((e) => {
      if (!readySince.has(e.involvedObject.name)) return false; // pods of other tests' rollouts
      const last = Date.parse(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp);
      const afterReady = last > readySince.get(e.involvedObject.name)!;
      if (['Killing', 'BackOff'].includes(e.reason)) return true;
      // Before its container exists, the kubelet may time out reading the pod's Secret from the
      // API server's cache (it lags under load: "failed to sync secret cache") and tries again
      // at its next sync. That is the control plane's delay, before the process starts; any
      // other failure, or this one after Ready, is the shop's.
      if (e.reason === 'Failed')
        return afterReady || !/failed to sync (secret|configmap) cache/.test(e.message);
      if (e.reason !== 'Unhealthy') return false;
      if (/^Liveness probe failed/.test(e.message)) return true;
      return /^Readiness probe failed/.test(e.message) && afterReady;
    });
    expect(bad.map((e) => `${e.involvedObject.name}: ${e.reason}: ${e.message}`)).toEqual([]);
  });

  it('runs each container as the chart’s security context says: uid 1000, read-only root, no capabilities', async () => {
    for (const service of COLOR_SERVICES) {
      const pod = servicePods.find((p) => p.metadata.labels?.['app.kubernetes.io/name'] === service)!;
      const report = JSON.parse(
        await exec(k, s, pod.metadata.name, [
          'node',
          '-e',
          `const fs = require('fs');
           let rootWritable = true;
           try { fs.writeFileSync('/probe', 'x'); } catch (e) { rootWritable = e.code; }
           fs.writeFileSync('/tmp/probe', 'x');
           const status = fs.readFileSync('/proc/self/status', 'utf8');
           const field = (n) => status.match(new RegExp(n + ':\\\\s*(\\\\S+)'))[1];
           console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), rootWritable,
             capEff: field('CapEff'), capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs'),
             memoryLimit: fs.readFileSync('/sys/fs/cgroup/memory/memory.limit_in_bytes', 'utf8').trim(),
             cpuQuota: fs.readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8').trim() }));`,
        ]),
      );
      expect(report, service).toMatchObject({
        uid: 1000,
        gid: 1000,
        rootWritable: 'EROFS',
        capEff: '0000000000000000',
        capBnd: '0000000000000000',
        noNewPrivs: '1',
        // values.yaml's limits: 512Mi of memory, 1 CPU (100 ms per 100 ms period).
        memoryLimit: String(512 * 1024 * 1024),
        cpuQuota: '100000',
      });
    }
  });

  it('ran the migrations as Jobs that completed, before any service started', async () => {
    const events = await k.list('events', s.namespace);
    for (const service of DB_SERVICES) {
      const job = `${s.release}-${service}-migrate`;
      expect(
        events.some(
          (e) => e.involvedObject.kind === 'Job' && e.involvedObject.name === job && e.reason === 'Completed',
        ),
        `${job} completed`,
      ).toBe(true);
      const want = readdirSync(join(repoRoot, 'services', service, 'prisma/migrations'), {
        withFileTypes: true,
      }).filter((d) => d.isDirectory()).length;
      const client = new pg.Client({ connectionString: databaseUrl(s, service) });
      await client.connect();
      try {
        const { rows } = await client.query(
          'SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
        );
        expect(rows[0].n, `${service} migrations applied`).toBe(want);
      } finally {
        await client.end();
      }
    }
    expect(existsSync(join(repoRoot, 'services/users/prisma/migrations'))).toBe(true);
  });

  it('logs from every pod through the API server: each service said it was ready', async () => {
    for (const pod of servicePods) {
      const logs = await k.kubectl(['logs', '-n', s.namespace, pod.metadata.name]);
      expect(logs, pod.metadata.name).toMatch(/"msg":"ready"/);
    }
  });

  it('passes helm test: the smoke suite in a pod, through the Services by name (cluster DNS)', async () => {
    const out = await k.helm(['test', s.release, '-n', s.namespace, '--logs', '--timeout', '10m'], 700_000);
    expect(out).toMatch(/Phase:\s+Succeeded/);
    expect(out).toMatch(/^(#|ℹ) fail 0$/m);
  });
});

describe('a SIGTERM drains a pod without a failed request', () => {
  // A request loop through the gateway's Service while one pod of a service is deleted
  // (the kubelet runs the preStop sleep, then SIGTERM): every request must succeed, and
  // the pod must exit 0 after saying it stopped.
  async function drainUnderTraffic(service: 'gateway' | 'inventory') {
    const color = (await k.get<KubeObject>(['service', `${s.release}-${service}`, '-n', s.namespace])).spec
      .selector['shop.example/color'];
    const deployment = `${s.release}-${service}-${color}`;
    await k.kubectl(['scale', 'deployment', deployment, '-n', s.namespace, '--replicas=2']);
    await k.kubectl(['rollout', 'status', 'deployment', deployment, '-n', s.namespace, '--timeout=180s']);
    const before = await pods(k, s, colorSelector(s, service, color));
    expect(before).toHaveLength(2);
    const victim = before[0]!.metadata.name;

    const base = await gatewayUrl(k, s);
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const response = await fetch(`${base}/api/v1/products?limit=3`, {
            signal: AbortSignal.timeout(10_000),
          });
          if (response.status === 200) ok++;
          else failures.push(`${response.status} ${await response.text()}`);
          await response.arrayBuffer().catch(() => undefined);
        } catch (error) {
          failures.push(String((error as Error).cause ?? error));
        }
      }
    })();
    await eventually('requests flowing', async () => (ok > 20 ? true : undefined), { timeoutMs: 30_000 });

    // Followed from before the deletion to the container's end, so the last lines are in.
    const follow = spawn(k.tools.KUBECTL as string, ['logs', '-f', '-n', s.namespace, victim], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    let logs = '';
    follow.stdout.on('data', (chunk) => {
      logs += chunk;
    });
    const followed = new Promise((resolve) => follow.on('close', resolve));
    // A finalizer of the test's own holds the deleted pod's object after the kubelet is done
    // with it, so its final container state can be read at leisure. (A watch for the DELETED
    // event missed it in loaded CI runs: the pod was gone after 8 s, the test waited 120 s.)
    const hold = (finalizers: string[]) =>
      k.kubectl([
        'patch',
        'pod',
        victim,
        '-n',
        s.namespace,
        '--type=merge',
        '-p',
        JSON.stringify({ metadata: { finalizers } }),
      ]);
    await hold(['shop.example/drain-test']);
    await k.kubectl(['delete', 'pod', victim, '-n', s.namespace, '--wait=false']);
    let terminated: { exitCode?: number; reason?: string };
    try {
      terminated = await eventually(
        `${victim}'s container to terminate`,
        async () => {
          const pod = await k.get<KubeObject>(['pod', victim, '-n', s.namespace]);
          const state = (pod.status?.containerStatuses?.[0] as ContainerStatus | undefined)?.state;
          if (state?.terminated) return state.terminated as { exitCode?: number; reason?: string };
          throw new Error(
            `last seen: ${JSON.stringify(pod.status?.containerStatuses?.[0]?.state ?? pod.status)}`,
          );
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
    } finally {
      await hold([]);
    }
    await eventually(`${victim} gone`, async () =>
      (
        await k.kubectl(['get', 'pod', victim, '-n', s.namespace, '--ignore-not-found', '-o', 'name'])
      ).trim() === ''
        ? true
        : undefined,
    );
    await followed;
    const after = ok;
    await eventually(
      'more requests after the pod is gone',
      async () => (ok > after + 20 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    stop = true;
    await loop;
    await k.kubectl(['scale', 'deployment', deployment, '-n', s.namespace, '--replicas=1']);
    // The next test starts with no pod of this one still terminating (its clients' connections).
    await eventually(
      `${deployment} back to one pod`,
      async () => ((await pods(k, s, colorSelector(s, service, color))).length === 1 ? true : undefined),
      { timeoutMs: 120_000 },
    );

    expect(failures).toEqual([]);
    expect(logs).toMatch(/"msg":"stopping"/);
    expect(logs).toMatch(/"msg":"stopped"/);
    expect(terminated.exitCode, JSON.stringify(terminated)).toBe(0);
    return ok;
  }

  it('the gateway', async () => {
    expect(await drainUnderTraffic('gateway')).toBeGreaterThan(40);
  });

  it('a service behind it (inventory)', async () => {
    expect(await drainUnderTraffic('inventory')).toBeGreaterThan(40);
  });
});
