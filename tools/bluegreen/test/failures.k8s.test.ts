// What must not switch traffic: a color that never gets ready, one that crash-
// loops, failing checks, a Service changed underneath.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../src/kube.js';
import { switchSelector } from '../src/switch-traffic.js';
import {
  activeColor,
  type Clients,
  clients,
  createBlueGreen,
  createNamespace,
  deleteNamespace,
  endpointColors,
  kubeconfigPath,
  parseJson,
  runCli,
} from './support/cluster.js';
import { answer, checkServer } from './support/http.js';

const release = 'shop';
let c: Clients;
let ns: string;

beforeAll(async () => {
  c = clients();
  ns = await createNamespace(c, 'failures', inject('bluegreenRun'));
});

afterAll(async () => {
  await deleteNamespace(c, ns);
});

const cli = (...args: string[]) => runCli([...args, '-n', ns]);

async function leaseHolder(service: string): Promise<string | undefined> {
  const lease = await c.coordination.readNamespacedLease({
    name: `${release}-${service}-bluegreen`,
    namespace: ns,
  });
  return lease.spec?.holderIdentity ?? undefined;
}

async function history(service: string): Promise<{ result: string; from: string; to: string }[]> {
  const cm = await c.core.readNamespacedConfigMap({
    name: `${release}-${service}-bluegreen-history`,
    namespace: ns,
  });
  return JSON.parse(cm.data?.['history.json'] ?? '[]');
}

describe('nothing switches to a color that is not fully ready', () => {
  it('a color that never becomes ready: exit 3 at the timeout, selector unchanged', async () => {
    const service = 'users';
    await createBlueGreen(c, { namespace: ns, release, service });
    const result = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-users:never-ready',
      '--timeout',
      '8s',
      '-o',
      'json',
    );
    expect(result.code, result.stderr).toBe(3);
    const out = parseJson(result);
    expect(out).toMatchObject({ result: 'failed', exitCode: 3, activeColor: 'blue' });
    expect((out.error as { message: string }).message).toContain('was not ready after 8.0s');
    expect((out.error as { hint: string }).hint).toContain('kubectl -n');
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);
    expect(await leaseHolder(service)).toBeUndefined();
    expect((await history(service))[0]).toMatchObject({ result: 'not-ready', from: 'blue', to: 'green' });
  });

  it('crash-looping pods: fails fast with exit 3, long before the timeout', async () => {
    const service = 'orders';
    await createBlueGreen(c, { namespace: ns, release, service });
    const started = Date.now();
    const result = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-orders:crashloop',
      '--timeout',
      '5m',
    );
    expect(result.code, result.stderr).toBe(3);
    expect(Date.now() - started).toBeLessThan(90_000);
    expect(result.stderr).toContain('CrashLoopBackOff');
    expect(result.stderr).toContain('Nothing was switched');
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    expect(await leaseHolder(service)).toBeUndefined();
  });

  it('a rollout past its progress deadline: fails fast with exit 3 (ProgressDeadlineExceeded)', async () => {
    const service = 'gateway';
    await createBlueGreen(c, { namespace: ns, release, service, progressDeadlineSeconds: 2 });
    const started = Date.now();
    const result = await cli(
      'deploy',
      service,
      '--image',
      'registry.local/shop-gateway:never-ready',
      '--timeout',
      '5m',
    );
    expect(result.code, result.stderr).toBe(3);
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(result.stderr).toContain('ProgressDeadlineExceeded');
    expect(result.stderr).toContain('Nothing was switched');
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);
    expect(await leaseHolder(service)).toBeUndefined();
  });

  it('a failing post-promotion check switches back automatically: exit 4', async () => {
    const service = 'payments';
    await createBlueGreen(c, { namespace: ns, release, service });
    const server = await checkServer(answer(500));
    try {
      const result = await cli(
        'deploy',
        service,
        '--image',
        'registry.local/shop-payments:2',
        '--check-url',
        server.url,
        '--check-interval',
        '200ms',
        '-o',
        'json',
      );
      expect(result.code, result.stderr).toBe(4);
      const out = parseJson(result);
      expect(out).toMatchObject({ exitCode: 4, activeColor: 'blue' });
      expect((out.error as { message: string }).message).toContain('post-promotion checks failed');
      expect((out.error as { message: string }).message).toContain('Switched back');
      expect(result.stderr).toMatch(/done {2}Switch back to blue/);
      expect(server.requests).toBeGreaterThanOrEqual(3);
      expect(await activeColor(c, ns, release, service)).toBe('blue');
      expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);
      const preview = await c.core.readNamespacedService({
        name: `${release}-${service}-preview`,
        namespace: ns,
      });
      expect(preview.spec?.selector?.['shop.example/color']).toBe('green');
      expect((await history(service))[0]).toMatchObject({
        result: 'switched-back',
        from: 'green',
        to: 'blue',
      });
      expect(await leaseHolder(service)).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('a failing pre-promotion check: exit 3, nothing switched', async () => {
    const service = 'payments';
    const server = await checkServer(answer(503));
    try {
      const result = await cli(
        'deploy',
        service,
        '--image',
        'registry.local/shop-payments:3',
        '--pre-check-url',
        server.url,
        '--check-interval',
        '200ms',
      );
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain('pre-promotion checks failed');
      expect(await activeColor(c, ns, release, service)).toBe('blue');
    } finally {
      await server.close();
    }
  });
});

describe('the switch is a compare-and-swap', () => {
  it('a Service changed during the deploy: exit 6, the concurrent change is kept', async () => {
    const service = 'notifications';
    await createBlueGreen(c, { namespace: ns, release, service });
    // The pre-promotion check is the window: while it runs, someone edits the selector.
    const server = await checkServer(async (_req, res, n) => {
      if (n === 1) {
        await c.core.patchNamespacedService(
          {
            name: `${release}-${service}`,
            namespace: ns,
            body: [{ op: 'add', path: '/spec/selector/app.kubernetes.io~1part-of', value: 'shop' }],
          },
          (await import('../src/kube.js')).jsonPatch,
        );
      }
      answer(200)(_req, res);
    });
    try {
      const result = await cli(
        'deploy',
        service,
        '--image',
        'registry.local/shop-notifications:2',
        '--pre-check-url',
        server.url,
        '--check-successes',
        '1',
      );
      expect(result.code, result.stderr).toBe(6);
      expect(result.stderr).toContain('changed underneath');
      expect(result.stderr).toContain('app.kubernetes.io/part-of: (none) -> shop');
      const svc = await c.core.readNamespacedService({ name: `${release}-${service}`, namespace: ns });
      expect(svc.spec?.selector).toEqual({
        'app.kubernetes.io/name': service,
        'app.kubernetes.io/instance': release,
        'app.kubernetes.io/part-of': 'shop',
        'shop.example/color': 'blue',
      });
      expect(await leaseHolder(service)).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('the API server itself rejects a switch based on a stale selector (JSON Patch test op)', async () => {
    const service = 'notifications';
    const kube = connect({ kubeconfig: kubeconfigPath(), namespace: ns });
    const target = { namespace: ns, release, service };
    const stale = {
      'app.kubernetes.io/name': service,
      'app.kubernetes.io/instance': release,
      'shop.example/color': 'blue',
    };
    const before = await c.core.readNamespacedService({ name: `${release}-${service}`, namespace: ns });
    const outcome = await switchSelector(kube, target, {
      service: `${release}-${service}`,
      expectedSelector: stale,
      to: 'green',
      hadAnnotations: true,
    });
    expect(outcome).toMatchObject({ ok: false, changed: 'app.kubernetes.io/part-of: (none) -> shop' });
    const after = await c.core.readNamespacedService({ name: `${release}-${service}`, namespace: ns });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.spec?.selector?.['shop.example/color']).toBe('blue');
  });
});
