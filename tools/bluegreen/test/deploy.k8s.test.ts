// deploy, status, history, rollback, promote, dry-run and scale-down against the
// real local control plane, with the objects of docs/bluegreen-conventions.md.
import type { V1EndpointSlice, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { watchCollection } from '../src/watch.js';
import {
  activeColor,
  type Clients,
  clients,
  createBlueGreen,
  createNamespace,
  deleteNamespace,
  endpointColors,
  parseJson,
  runCli,
  startCli,
  waitFor,
} from './support/cluster.js';

const release = 'shop';
let c: Clients;
let ns: string;

beforeAll(async () => {
  c = clients();
  ns = await createNamespace(c, 'deploy', inject('bluegreenRun'));
});

afterAll(async () => {
  await deleteNamespace(c, ns);
});

const cli = (...args: string[]) => runCli([...args, '-n', ns]);

describe('deploy', () => {
  it('rolls the new image out to the idle color and moves the EndpointSlices to it', async () => {
    const service = 'users';
    await createBlueGreen(c, {
      namespace: ns,
      release,
      service,
      images: { blue: 'registry.local/shop-users:1.0.0', green: 'registry.local/shop-users:0.9.0' },
      replicas: { blue: 2, green: 0 },
    });
    expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);

    // Follow what the Service's EndpointSlices list while the CLI works.
    const seen: string[][] = [];
    const stop = new AbortController();
    let slices: V1EndpointSlice[] | undefined;
    let pods: V1Pod[] | undefined;
    const record = () => {
      // Both initial lists first: one alone would record an empty or unknown state.
      if (!slices || !pods) return;
      const colorOf = new Map(
        pods.map((p) => [p.metadata?.name, p.metadata?.labels?.['shop.example/color']]),
      );
      const colors = slices
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready !== false)
        .map((e) => colorOf.get(e.targetRef?.name) ?? '?')
        .sort();
      // A slice can name a pod before the pod watch delivered it: wait for both.
      if (colors.includes('?')) return;
      if (JSON.stringify(seen.at(-1)) !== JSON.stringify(colors)) seen.push(colors);
    };
    const sliceSelector = `kubernetes.io/service-name=${release}-${service}`;
    void watchCollection<V1EndpointSlice>(
      c.kc,
      {
        path: `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
        labelSelector: sliceSelector,
        list: () => c.discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: sliceSelector }),
      },
      (items) => {
        slices = items;
        record();
      },
      stop.signal,
    );
    void watchCollection<V1Pod>(
      c.kc,
      {
        path: `/api/v1/namespaces/${ns}/pods`,
        labelSelector: `app.kubernetes.io/name=${service}`,
        list: () =>
          c.core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/name=${service}` }),
      },
      (items) => {
        pods = items;
        record();
      },
      stop.signal,
    );

    await waitFor(async () => seen.length > 0, 30_000, 'the EndpointSlice and pod watches to start');
    const result = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-users:1.1.0',
      '--timeout',
      '90s',
      '-o',
      'json',
    );
    expect(result.code, result.stderr).toBe(0);
    const out = parseJson(result);
    expect(out).toMatchObject({
      command: 'deploy',
      service,
      namespace: ns,
      release,
      result: 'succeeded',
      exitCode: 0,
      from: 'blue',
      to: 'green',
      activeColor: 'green',
      previewColor: 'blue',
      image: 'registry.local/shop-users:1.1.0',
      previousImage: 'registry.local/shop-users:1.0.0',
      replicas: 2,
    });
    const timings = out.timings as Record<string, number>;
    expect(timings.cutoverMs).toBeGreaterThan(0);
    expect(timings['wait-ready']).toBeGreaterThan(0);
    expect(timings.totalMs).toBeGreaterThanOrEqual(timings['wait-ready']!);

    // Progress went to stderr as plain timestamped lines (no TTY here).
    expect(result.stderr).toMatch(/Z start Wait until green is ready/);
    expect(result.stderr).toMatch(
      /Z done {2}Verify the EndpointSlices of shop-users list only ready green pods/,
    );

    expect(await activeColor(c, ns, release, service)).toBe('green');
    const preview = await c.core.readNamespacedService({
      name: `${release}-${service}-preview`,
      namespace: ns,
    });
    expect(preview.spec?.selector?.['shop.example/color']).toBe('blue');
    expect(await endpointColors(c, ns, release, service)).toEqual(['green', 'green']);
    await new Promise((r) => setTimeout(r, 300));
    stop.abort();
    // The EndpointSlices went from blue only to green only.
    expect(seen[0]).toEqual(['blue', 'blue']);
    expect(seen.at(-1)).toEqual(['green', 'green']);
    // The old color keeps running for an instant rollback.
    const blue = await c.apps.readNamespacedDeployment({ name: `${release}-${service}-blue`, namespace: ns });
    expect(blue.spec?.replicas).toBe(2);
    // The lock is released.
    const lease = await c.coordination.readNamespacedLease({
      name: `${release}-${service}-bluegreen`,
      namespace: ns,
    });
    expect(lease.spec?.holderIdentity ?? undefined).toBeUndefined();
  });

  it('status shows both colors, the lock and the last cutover (text and JSON)', async () => {
    const json = await cli('status', 'users', '-o', 'json');
    expect(json.code, json.stderr).toBe(0);
    const { services } = parseJson(json) as { services: Record<string, unknown>[] };
    expect(services).toHaveLength(1);
    expect(services[0]).toMatchObject({
      service: 'users',
      namespace: ns,
      release,
      activeColor: 'green',
      previewColor: 'blue',
      colors: {
        blue: {
          deployment: 'shop-users-blue',
          image: 'registry.local/shop-users:1.0.0',
          replicas: 2,
          readyReplicas: 2,
          availableReplicas: 2,
        },
        green: {
          deployment: 'shop-users-green',
          image: 'registry.local/shop-users:1.1.0',
          replicas: 2,
          readyReplicas: 2,
          availableReplicas: 2,
        },
      },
      lock: null,
      lastCutover: { from: 'blue', to: 'green', result: 'succeeded', action: 'deploy' },
    });
    const text = await cli('status');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('traffic: shop-users -> green');
    expect(text.stdout).toMatch(/\* +green \(active\) +registry\.local\/shop-users:1\.1\.0/);
    expect(text.stdout).toContain('lock: free');
  });

  it('rollback switches back in one step while the old color still runs', async () => {
    const result = await cli('rollback', 'users', '-o', 'json');
    expect(result.code, result.stderr).toBe(0);
    expect(parseJson(result)).toMatchObject({
      command: 'rollback',
      result: 'succeeded',
      from: 'green',
      to: 'blue',
      activeColor: 'blue',
    });
    expect(await activeColor(c, ns, release, 'users')).toBe('blue');
    expect(await endpointColors(c, ns, release, 'users')).toEqual(['blue', 'blue']);
  });

  it('history lists the cutovers newest first, kept in the ConfigMap', async () => {
    const result = await cli('history', 'users', '-o', 'json');
    expect(result.code, result.stderr).toBe(0);
    const { history } = parseJson(result) as { history: Record<string, unknown>[] };
    expect(history.map((h) => [h.action, h.from, h.to, h.result])).toEqual([
      ['rollback', 'green', 'blue', 'succeeded'],
      ['deploy', 'blue', 'green', 'succeeded'],
    ]);
    expect(history[0]).toMatchObject({
      by: expect.any(String),
      at: expect.any(String),
      images: { blue: 'registry.local/shop-users:1.0.0', green: 'registry.local/shop-users:1.1.0' },
    });
    const cm = await c.core.readNamespacedConfigMap({ name: 'shop-users-bluegreen-history', namespace: ns });
    expect(JSON.parse(cm.data?.['history.json'] ?? '[]')).toHaveLength(2);
    const text = await cli('history', 'users');
    expect(text.stdout.split('\n')[1]).toContain('rollback');
  });

  it('rollback refuses (exit 6) when the previous color is gone, and says what to do', async () => {
    await c.apps.patchNamespacedDeployment(
      {
        name: 'shop-users-green',
        namespace: ns,
        body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
      },
      (await import('../src/kube.js')).jsonPatch,
    );
    const before = await c.core.readNamespacedService({ name: 'shop-users', namespace: ns });
    const result = await cli('rollback', 'users');
    expect(result.code).toBe(6);
    expect(result.stderr).toContain('Refusing to rollback: shop-users stays on blue because green');
    expect(result.stderr).toContain('scaled to 0');
    expect(result.stderr).toContain(
      'what to do: Bring the previous version back as a new deploy: bluegreen deploy users',
    );
    expect(result.stderr).toContain('--image registry.local/shop-users:1.1.0');
    const after = await c.core.readNamespacedService({ name: 'shop-users', namespace: ns });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });

  it('--dry-run prints the plan and changes nothing (no resourceVersion moves)', async () => {
    const service = 'orders';
    await createBlueGreen(c, { namespace: ns, release, service, replicas: { blue: 2, green: 0 } });
    const versions = async () => {
      const names = [`${release}-${service}`, `${release}-${service}-preview`];
      const svcs = await Promise.all(
        names.map((name) => c.core.readNamespacedService({ name, namespace: ns })),
      );
      const deps = await Promise.all(
        ['blue', 'green'].map((color) =>
          c.apps.readNamespacedDeployment({ name: `${release}-${service}-${color}`, namespace: ns }),
        ),
      );
      const leases = await c.coordination.listNamespacedLease({ namespace: ns });
      const cms = await c.core.listNamespacedConfigMap({ namespace: ns });
      return {
        objects: [...svcs, ...deps].map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`),
        leases: leases.items.filter((l) => l.metadata?.name?.includes(service)).length,
        configMaps: cms.items.filter((m) => m.metadata?.name?.includes(service)).length,
      };
    };
    const before = await versions();
    const text = await cli('deploy', service, '--image', 'registry.local/shop-orders:2', '--dry-run');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Plan for deploy of orders');
    expect(text.stdout).toContain('Set green to registry.local/shop-orders:2 with 2 replica(s)');
    expect(text.stdout).toContain('Dry run: nothing was changed');
    const json = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-orders:2',
      '--dry-run',
      '-o',
      'json',
    );
    expect(parseJson(json)).toMatchObject({
      dryRun: true,
      result: 'planned',
      from: 'blue',
      to: 'green',
      exitCode: 0,
    });
    const rollback = await cli('rollback', service, '--dry-run');
    expect(rollback.code).toBe(6); // green runs no pods: the plan itself refuses
    expect(await versions()).toEqual(before);
  });

  it('--no-promote stops with the new color ready on the preview Service; promote finishes', async () => {
    const service = 'inventory';
    await createBlueGreen(c, { namespace: ns, release, service, replicas: { blue: 1, green: 0 } });
    const staged = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-inventory:2',
      '--no-promote',
      '-o',
      'json',
    );
    expect(staged.code, staged.stderr).toBe(0);
    expect(parseJson(staged)).toMatchObject({ result: 'ready', activeColor: 'blue', previewColor: 'green' });
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    const preview = await c.core.readNamespacedService({
      name: `${release}-${service}-preview`,
      namespace: ns,
    });
    expect(preview.spec?.selector?.['shop.example/color']).toBe('green');

    const promoted = await cli('promote', service, '-o', 'json');
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(parseJson(promoted)).toMatchObject({
      command: 'promote',
      result: 'succeeded',
      activeColor: 'green',
    });
    expect(await endpointColors(c, ns, release, service)).toEqual(['green']);
  });

  it('--scale-down-after scales the old color to 0 later, never the active one', async () => {
    const service = 'payments';
    await createBlueGreen(c, { namespace: ns, release, service, replicas: { blue: 2, green: 0 } });
    const result = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-payments:2',
      '--scale-down-after',
      '1s',
      '-o',
      'json',
    );
    expect(result.code, result.stderr).toBe(0);
    expect(parseJson(result)).toMatchObject({ activeColor: 'green', scaleDown: 'scaled to 0 after 1.0s' });
    const blue = await c.apps.readNamespacedDeployment({ name: `${release}-${service}-blue`, namespace: ns });
    const green = await c.apps.readNamespacedDeployment({
      name: `${release}-${service}-green`,
      namespace: ns,
    });
    expect(blue.spec?.replicas).toBe(0);
    expect(green.spec?.replicas).toBe(2);
    // And now the rollback target is gone: refused, traffic stays.
    const rollback = await cli('rollback', service);
    expect(rollback.code).toBe(6);
    expect(await activeColor(c, ns, release, service)).toBe('green');
  });

  it('--scale-down-after leaves the old color running when a rollback made it active again', async () => {
    const service = 'gateway';
    await createBlueGreen(c, { namespace: ns, release, service, replicas: { blue: 2, green: 0 } });
    const deploy = startCli([
      'deploy',
      service,
      '--image',
      'registry.local/shop-gateway:2',
      '--scale-down-after',
      '20s',
      '-n',
      ns,
      '-o',
      'json',
    ]);
    // The lock is free while the scale-down waits: roll back meanwhile.
    await deploy.waitForStderr(/start Scale blue to 0/, 120_000);
    const rollback = await cli('rollback', service);
    expect(rollback.code, rollback.stderr).toBe(0);
    const done = await deploy.done;
    expect(done.code, done.stderr).toBe(0);
    expect(parseJson(done)).toMatchObject({
      scaleDown: 'left running: shop-gateway selects blue (a rollback happened?)',
    });
    const blue = await c.apps.readNamespacedDeployment({ name: `${release}-${service}-blue`, namespace: ns });
    expect(blue.spec?.replicas).toBe(2);
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);
  });

  it('usage errors exit 2 and every command has --help with an example', async () => {
    expect((await runCli(['deploy', 'users'])).code).toBe(2); // --image missing
    expect((await runCli(['deploy', 'users', '--image', 'x', '--timeout', 'soon', '-n', ns])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    for (const command of ['status', 'deploy', 'promote', 'rollback', 'abort', 'history']) {
      const help = await runCli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Examples:');
      expect(help.stdout).toContain(`$ bluegreen ${command}`);
    }
  });
});
