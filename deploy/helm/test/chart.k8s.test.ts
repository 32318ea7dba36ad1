// The chart against the real local API server (scripts/k8s.sh up: kube-apiserver,
// controllers, scheduler, kwok nodes). kwok runs no containers: any image ref
// works, pods become Ready, Job and `helm test` pods succeed. Everything is read
// through the API (kubectl, helm) on 127.0.0.1; nothing connects to a pod, node
// or Service address. One namespace per run (two: the kind value set and the
// production one), deleted at the end.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { coloredServices, databaseServices, system } from '@shop/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  SERVICE_NODE_FLAGS,
  SERVICE_NODE_OPTIONS,
  type ServiceName,
} from '../../../packages/stack/src/services.js';
import { generateSigningKeysEnv, signingKeysEnv } from '../../../services/users/src/signing-keys.js';
import { Cluster, chartDir, eventually, type KubeObject, loadVersions, repoRoot } from './tools.js';

// The chart deploys every service of the declaration but the card processor, in two colors.
const services = coloredServices;
type Service = (typeof services)[number];
type Color = 'blue' | 'green';
const other = (color: Color): Color => (color === 'blue' ? 'green' : 'blue');

const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const ns = `shop-chart-${run}`;
const prodNs = `shop-chart-prod-${run}`;
const dryRunPrefix = `shop-chart-dry-${run}`;
const release = 'shop';
// values-kind.yaml with the gateway on a free NodePort instead of kind's 30080:
// NodePorts are unique in the whole cluster, and other test files (the bluegreen
// CLI's) install the chart into the same control plane, possibly at the same time.
let nodePort = 30080;
let kindValues: string[] = [];
const prodValues = [
  '-f',
  join(chartDir, 'values-production.yaml'),
  '-f',
  join(repoRoot, 'deploy/helm/test/production-site.yaml'),
];
const claims = ['kafka', ...databaseServices.map((s) => `postgres-${s}`)];

let k: Cluster;
// Independent of the kind-values chain of tests, so started in beforeAll and run
// alongside it; their tests await them (and afterAll, before deleting anything).
let dryRuns: Promise<void>;
let production: Promise<{ events: Recorded[]; provided: [string, Record<string, string>][] }>;
const helm = (args: string[]) => k.helm(args);

/** Watch events of Jobs and Deployments in a namespace, from a resourceVersion on. */
interface Recorded {
  type: string;
  kind: string;
  name: string;
  rv: bigint;
  object: KubeObject;
}

async function recordDuring(namespace: string, action: () => Promise<unknown>): Promise<Recorded[]> {
  const events: Recorded[] = [];
  const watches = await Promise.all(
    [
      ['Job', `/apis/batch/v1/namespaces/${namespace}/jobs`],
      ['Deployment', `/apis/apps/v1/namespaces/${namespace}/deployments`],
    ].map(async ([kind, path]) => {
      // Start from the list's resourceVersion: no event is missed however late the watch connects.
      const list = JSON.parse(await k.kubectl(['get', '--raw', path as string]));
      return k.watch(path as string, list.metadata.resourceVersion, (event) => {
        events.push({
          type: event.type,
          kind: kind as string,
          name: event.object.metadata.name,
          // etcd revisions: one global, increasing counter in this cluster (resourceVersion is
          // opaque in general; here it is the only total order across kinds).
          rv: BigInt(event.object.metadata.resourceVersion ?? '0'),
          object: event.object,
        });
      });
    }),
  );
  try {
    await action();
    // Let the last events (hook Jobs deleted after success) arrive.
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    for (const w of watches) w.stop();
  }
  return events.sort((a, b) => (a.rv < b.rv ? -1 : a.rv > b.rv ? 1 : 0));
}

/** Asserts that the migrations ran one after another, in weight order, and finished before any service Deployment existed. */
function expectMigrationsFirst(events: Recorded[]) {
  const added = (kind: string, name: string) =>
    events.find((e) => e.kind === kind && e.name === name && e.type === 'ADDED');
  const completed = (name: string) =>
    events.find(
      (e) =>
        e.kind === 'Job' &&
        e.name === name &&
        (e.object.status?.conditions ?? []).some(
          (c: { type: string; status: string }) => c.type === 'Complete' && c.status === 'True',
        ),
    );
  const migrations = databaseServices.map((s) => `${release}-${s}-migrate`);
  let previousDone = 0n;
  for (const [i, job] of migrations.entries()) {
    const created = added('Job', job);
    const done = completed(job);
    expect(created, `${job} was created`).toBeDefined();
    expect(done, `${job} completed`).toBeDefined();
    const annotations = created?.object.metadata.annotations ?? {};
    expect(annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(annotations['helm.sh/hook-weight']).toBe(String(-10 + i));
    expect(annotations['helm.sh/hook-delete-policy']).toBe('before-hook-creation,hook-succeeded');
    // One at a time: each migration starts after the previous one completed.
    expect(created?.rv, `${job} starts after the previous migration completed`).toBeGreaterThan(previousDone);
    previousDone = done?.rv ?? 0n;
    // hook-succeeded: deleted once it completed.
    expect(events.some((e) => e.name === job && e.type === 'DELETED')).toBe(true);
  }
  for (const s of services) {
    for (const color of ['blue', 'green']) {
      const deployment = `${release}-${s}-${color}`;
      const created = added('Deployment', deployment);
      expect(created, `${deployment} was created`).toBeDefined();
      expect(created?.rv, `${deployment} is created after every migration completed`).toBeGreaterThan(
        previousDone,
      );
    }
  }
  return events;
}

async function expectDeploymentsAvailable(namespace: string, expected: number) {
  const deployments = await k.list('deployments', namespace, `app.kubernetes.io/instance=${release}`);
  expect(deployments.length).toBe(expected);
  for (const d of deployments) {
    const s = d.status ?? {};
    const available = (s.conditions ?? []).find((c: { type: string }) => c.type === 'Available');
    expect(available?.status, `${d.metadata.name} Available`).toBe('True');
    // The readiness rule of docs/bluegreen-conventions.md.
    expect(s.observedGeneration).toBeGreaterThanOrEqual(d.metadata.generation ?? 0);
    expect(d.spec.replicas).toBeGreaterThan(0);
    expect([s.updatedReplicas, s.readyReplicas, s.availableReplicas, s.replicas]).toEqual(
      Array(4).fill(d.spec.replicas),
    );
  }
}

/** Active Service selectors as they are now. */
async function activeColors(namespace = ns): Promise<Record<Service, string>> {
  const active = await k.list(
    'services',
    namespace,
    `app.kubernetes.io/instance=${release},shop.example/bluegreen=active`,
  );
  const bySelector = new Map(
    active.map((svc) => [svc.metadata.name, svc.spec.selector['shop.example/color']]),
  );
  return Object.fromEntries(services.map((s) => [s, bySelector.get(`${release}-${s}`)])) as Record<
    Service,
    string
  >;
}

/** Each active Service's EndpointSlices list exactly the ready pods of the active color, the preview's those of the other. */
async function expectEndpoints(expected: Record<Service, Color>) {
  const slices = await k.list('endpointslices', ns);
  const pods = await k.list(
    'pods',
    ns,
    `app.kubernetes.io/instance=${release},app.kubernetes.io/component=service`,
  );
  const readyPods = (service: Service, color: Color) =>
    pods
      .filter(
        (p) =>
          p.metadata.labels?.['app.kubernetes.io/name'] === service &&
          p.metadata.labels?.['shop.example/color'] === color &&
          !p.metadata.deletionTimestamp &&
          (p.status?.conditions ?? []).some(
            (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
          ),
      )
      .map((p) => p.metadata.name)
      .sort();
  const endpointPods = (serviceName: string) =>
    slices
      .filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === serviceName)
      .flatMap(
        (s) => (s.endpoints ?? []) as { targetRef?: { name: string }; conditions?: { ready?: boolean } }[],
      )
      .filter((e) => e.conditions?.ready !== false)
      .map((e) => e.targetRef?.name ?? '?')
      .sort();
  const actual: Record<string, string[]> = {};
  const wanted: Record<string, string[]> = {};
  for (const s of services) {
    actual[`${release}-${s}`] = endpointPods(`${release}-${s}`);
    wanted[`${release}-${s}`] = readyPods(s, expected[s]);
    actual[`${release}-${s}-preview`] = endpointPods(`${release}-${s}-preview`);
    wanted[`${release}-${s}-preview`] = readyPods(s, other(expected[s]));
  }
  if (Object.values(wanted).some((names) => names.length === 0)) {
    throw new Error(`a color has no ready pod yet: ${JSON.stringify(wanted)}`);
  }
  if (JSON.stringify(actual) !== JSON.stringify(wanted)) {
    throw new Error(`EndpointSlices list ${JSON.stringify(actual)}, want ${JSON.stringify(wanted)}`);
  }
  return actual;
}

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether a label selector (NetworkPolicy podSelector) selects these labels. */
function selects(selector: Selector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = key in labels;
    const ok =
      operator === 'In'
        ? has && values.includes(labels[key] as string)
        : operator === 'NotIn'
          ? !has || !values.includes(labels[key] as string)
          : operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

const all = (color: Color) => Object.fromEntries(services.map((s) => [s, color])) as Record<Service, Color>;

/** Each color's image: the Deployments that carry the color label. */
async function images(namespace = ns): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const d of await k.list(
    'deployments',
    namespace,
    `app.kubernetes.io/instance=${release},shop.example/color`,
  )) {
    result[d.metadata.name] = d.spec.template.spec.containers[0].image;
  }
  return result;
}

/** Every Secret of a namespace, decoded: name -> key -> value. */
async function secrets(namespace = ns): Promise<Record<string, Record<string, string>>> {
  const result: Record<string, Record<string, string>> = {};
  for (const secret of await k.list('secrets', namespace)) {
    result[secret.metadata.name] = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([key, v]) => [key, Buffer.from(String(v), 'base64').toString()]),
    );
  }
  return result;
}

/** A NodePort no Service of the cluster uses (and not kind's 30080). */
async function freeNodePort(): Promise<number> {
  const used = new Set<number>([30080]);
  for (const svc of (await k.get<{ items: KubeObject[] }>(['services', '--all-namespaces'])).items) {
    for (const port of svc.spec?.ports ?? []) if (port.nodePort) used.add(port.nodePort);
  }
  for (;;) {
    const candidate = 30000 + Math.floor(Math.random() * 2768);
    if (!used.has(candidate)) return candidate;
  }
}

/** Every value set, rendered as install and as upgrade: the API server accepts every object (dry run). */
async function serverDryRuns(): Promise<void> {
  // The kind set with a NodePort of its own: a dry run allocates it too, and the
  // release the other tests install at the same time holds kindValues' one.
  let dryRunPort = nodePort;
  while (dryRunPort === nodePort) dryRunPort = await freeNodePort();
  const sets: [string, string[]][] = [
    ['defaults', []],
    ['kind', [...kindValues, '--set', `services.gateway.service.nodePort=${dryRunPort}`]],
    ['production', prodValues],
  ];
  // The three value sets at once, each in a namespace of its own: their
  // StatefulSets' immutable fields differ. The ServiceAccounts are created for real
  // first: the admission of a Pod looks its account up, even in a dry run.
  await Promise.all(
    sets.map(async ([name, values]) => {
      const scratch = `${dryRunPrefix}-${name}`;
      await k.kubectl(['create', 'namespace', scratch]);
      for (const mode of [[], ['--is-upgrade']]) {
        const manifests = await helm(['template', release, chartDir, '-n', scratch, ...values, ...mode]);
        const accounts = manifests.split(/^---$/m).filter((doc) => /^kind: ServiceAccount$/m.test(doc));
        await k.kubectl(['apply', '-n', scratch, '-f', '-'], accounts.join('\n---\n'));
        const out = await k.kubectl(
          ['apply', '--dry-run=server', '--validate=strict', '-n', scratch, '-f', '-'],
          manifests,
        );
        const applied = out.split('\n').filter((line) => line.includes('(server dry run)'));
        expect(applied.length, `${name} ${mode.join('')}: ${out}`).toBe(
          (manifests.match(/^kind: /gm) ?? []).length,
        );
      }
      // A dry run creates nothing.
      expect([
        ...(await k.objects('deployments,statefulsets,jobs,pods,secrets,services', scratch)).keys(),
      ]).toEqual([]);
    }),
  );
}

/** values-production.yaml with the Secrets an operator provides, installed in one step; watch events recorded. */
async function installProduction() {
  // What the operator provides (values-production.yaml's header).
  const provided: [string, Record<string, string>][] = [
    [
      'shop-secrets',
      {
        SERVICE_TOKEN_SECRETS: randomBytes(24).toString('hex'),
        USER_TOKEN_SIGNING_KEYS: await generateSigningKeysEnv(),
      },
    ],
    ['shop-admin', { email: 'ops@shop.example', password: randomBytes(12).toString('hex') }],
    ['shop-payment-provider', { 'api-key': `sk_live_${randomBytes(8).toString('hex')}` }],
    ...databaseServices.map(
      (s) =>
        [`shop-${s}-database`, { url: `postgresql://${s}:pw@db.example.com:5432/${s}?sslmode=require` }] as [
          string,
          Record<string, string>,
        ],
    ),
  ];
  await k.kubectl(
    ['apply', '-n', prodNs, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: provided.map(([name, stringData]) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name },
        stringData,
      })),
    }),
  );
  const events = await recordDuring(prodNs, () =>
    helm(['install', release, chartDir, '-n', prodNs, ...prodValues, '--wait', '--timeout', '300s']),
  );
  return { events, provided };
}

beforeAll(async () => {
  k = new Cluster(loadVersions());
  nodePort = await freeNodePort();
  kindValues = [
    '-f',
    join(chartDir, 'values-kind.yaml'),
    '--set',
    `services.gateway.service.nodePort=${nodePort}`,
  ];
  await k.kubectl(['create', 'namespace', ns]);
  await k.kubectl(['create', 'namespace', prodNs]);
  // Volumes for the StatefulSets' claims, bound to them in advance (there is no
  // provisioner here; kind has one). Nothing mounts them: kwok runs no containers.
  await k.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: claims.map((name) => ({
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `${ns}-data-${release}-${name}-0`, labels: { 'shop.example/test-run': run } },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Delete',
          hostPath: { path: `/nonexistent/${run}/${name}` },
          claimRef: { namespace: ns, name: `data-${release}-${name}-0` },
        },
      })),
    }),
  );
  dryRuns = serverDryRuns();
  production = installProduction();
  // Awaited by their tests; never an unhandled rejection in between.
  dryRuns.catch(() => undefined);
  production.catch(() => undefined);
});

afterAll(async () => {
  if (!k) return;
  await Promise.allSettled([dryRuns, production]);
  const dryRun = ['defaults', 'kind', 'production'].map((set) => `${dryRunPrefix}-${set}`);
  await k.kubectl([
    'delete',
    'namespace',
    ns,
    prodNs,
    ...dryRun,
    '--ignore-not-found',
    '--wait=true',
    '--timeout=180s',
  ]);
  await k.kubectl([
    'delete',
    'persistentvolume',
    '-l',
    `shop.example/test-run=${run}`,
    '--ignore-not-found',
    '--wait=true',
    '--timeout=60s',
  ]);
});

describe('the chart on a real API server (kwok nodes)', () => {
  it('values.schema.json stops a wrong value before anything is installed, with a clear message', async () => {
    const result = await k.helmResult([
      'install',
      release,
      chartDir,
      '-n',
      ns,
      ...kindValues,
      '--set',
      'bluegreen.activeColor=purple',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("at '/bluegreen/activeColor': value must be one of '', 'blue', 'green'");
    expect(await helm(['list', '-n', ns, '-q'])).toBe('');
  });

  it('first install (kind values): the infrastructure, secrets and policies only, and it becomes ready', async () => {
    const out = await helm([
      'install',
      release,
      chartDir,
      '-n',
      ns,
      ...kindValues,
      '--wait',
      '--timeout',
      '240s',
    ]);
    expect(out).toContain('Step 1 of 2 done');
    const deployments = await k.list('deployments', ns);
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      `${release}-jaeger`,
      `${release}-otel-collector`,
    ]);
    const statefulSets = await k.list('statefulsets', ns);
    expect(statefulSets.map((s) => [s.metadata.name, s.status.readyReplicas])).toEqual([
      [`${release}-kafka`, 1],
      ...[...databaseServices].sort().map((s) => [`${release}-postgres-${s}`, 1]),
    ]);
    const all = await secrets();
    for (const s of databaseServices) {
      const db = all[`${release}-${s}-db`] ?? {};
      expect(db.url).toBe(`postgresql://${s}:${db.password}@${release}-postgres-${s}:5432/${s}`);
      expect(db.password).toMatch(/^[A-Za-z0-9]{32}$/);
    }
    const policies = (await k.list('networkpolicies', ns)).map((p) => p.metadata.name).sort();
    for (const s of databaseServices) expect(policies).toContain(`${release}-postgres-${s}`);
  });

  let generated: Record<string, Record<string, string>>;

  it('the upgrade runs each migration alone, in weight order, before any service Deployment, then the seeds', async () => {
    const events = await recordDuring(ns, () =>
      helm(['upgrade', release, chartDir, '-n', ns, ...kindValues, '--wait', '--timeout', '240s']),
    );
    expectMigrationsFirst(events);
    const lastDeployment =
      events.filter((e) => e.kind === 'Deployment' && e.type === 'ADDED').at(-1)?.rv ?? 0n;
    for (const seed of ['users-seed', 'inventory-seed']) {
      const created = events.find((e) => e.name === `${release}-${seed}` && e.type === 'ADDED');
      expect(created?.object.metadata.annotations?.['helm.sh/hook']).toBe('post-install,post-upgrade');
      expect(created?.rv, `${seed} runs after the Deployments exist`).toBeGreaterThan(lastDeployment);
    }
    const seed = events.find((e) => e.name === `${release}-users-seed` && e.type === 'ADDED')?.object;
    expect(seed?.spec.template.spec.containers[0].command).toEqual(['node', 'dist/seed.js']);
    expect(seed?.spec.template.spec.containers[0].workingDir).toBe('/app/services/users');
    const migrate = events.find((e) => e.name === `${release}-orders-migrate` && e.type === 'ADDED')?.object;
    expect(migrate?.spec.template.spec.containers[0]).toMatchObject({
      image: 'shop-orders:dev',
      workingDir: '/app/services/orders',
      command: ['node', '/app/node_modules/prisma/build/index.js', 'migrate', 'deploy'],
    });
    const live = await secrets();
    generated = {
      secrets: live[`${release}-secrets`] ?? {},
      admin: live[`${release}-admin`] ?? {},
      users: live[`${release}-users-db`] ?? {},
      provider: live[`${release}-payment-provider`] ?? {},
    };
  });

  it('every Deployment becomes Available', async () => {
    // Two colors of each service, the card simulator, the collector, Jaeger.
    await expectDeploymentsAvailable(ns, services.length * 2 + 3);
  });

  it("each active Service's EndpointSlices list exactly the active color's pods, the preview's the other color's", async () => {
    expect(await activeColors()).toEqual(all('blue'));
    await eventually('EndpointSlices of blue (active) and green (preview)', () =>
      expectEndpoints(all('blue')),
    );
  });

  it('objects follow the contract and the hardening rules', async () => {
    const live = await k.objects(
      'services,deployments,poddisruptionbudgets,serviceaccounts,roles,rolebindings',
      ns,
    );
    const get = (kind: string, name: string) => {
      const o = live.get(`${kind}/${name}`);
      if (!o) throw new Error(`${kind} ${name} is missing`);
      return o;
    };
    for (const s of services) {
      const active = get('Service', `${release}-${s}`);
      const preview = get('Service', `${release}-${s}-preview`);
      expect(active.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': s,
        'app.kubernetes.io/instance': release,
        'shop.example/bluegreen': 'active',
      });
      expect(preview.metadata.labels).toMatchObject({ 'shop.example/bluegreen': 'preview' });
      expect(active.spec.selector).toEqual({
        'app.kubernetes.io/name': s,
        'app.kubernetes.io/instance': release,
        'shop.example/color': 'blue',
      });
      expect(active.spec.type).toBe(s === 'gateway' ? 'NodePort' : 'ClusterIP');
      if (s === 'gateway') expect(active.spec.ports[0].nodePort).toBe(nodePort);
      const pdb = get('PodDisruptionBudget', `${release}-${s}`);
      expect(pdb.spec.maxUnavailable).toBe(1);
      const sa = get('ServiceAccount', `${release}-${s}`);
      expect(sa.automountServiceAccountToken).toBe(false);
      const role = get('Role', `${release}-${s}-active-color`);
      const consumes = system[s].consumes;
      expect(role.rules).toEqual([
        {
          apiGroups: [''],
          resources: ['services'],
          resourceNames: [`${release}-${s}`],
          verbs: ['get', 'list', 'watch'],
        },
        ...(consumes
          ? [
              {
                apiGroups: [''],
                resources: ['configmaps'],
                resourceNames: [`${release}-${s}-consumers`],
                verbs: ['get', 'patch'],
              },
            ]
          : []),
      ]);
      const binding = get('RoleBinding', `${release}-${s}-active-color`);
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: `${release}-${s}`, namespace: ns }]);

      for (const color of ['blue', 'green']) {
        const d = get('Deployment', `${release}-${s}-${color}`);
        const labels = {
          'app.kubernetes.io/name': s,
          'app.kubernetes.io/instance': release,
          'app.kubernetes.io/part-of': 'shop',
          'shop.example/color': color,
        };
        expect(d.metadata.labels).toMatchObject(labels);
        expect(d.spec.template.metadata.labels).toMatchObject(labels);
        expect(d.spec.selector.matchLabels['shop.example/color']).toBe(color);
        const pod = d.spec.template.spec;
        // It watches its active Service (bluegreen.followActiveColor), with a Role that can
        // read that one Service and, for a consuming service, patch its consumers ConfigMap.
        expect(pod.automountServiceAccountToken).toBe(true);
        expect(pod.securityContext).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 1000,
          runAsGroup: 1000,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        const [c] = pod.containers;
        expect(c.name).toBe(s);
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 1000,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
        expect(c.livenessProbe.httpGet.path).toBe('/health/live');
        expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
        expect(c.startupProbe.httpGet.path).toBe('/health/live');
        expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
        expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
        const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
        expect(env.HOST).toBe('0.0.0.0');
        const grace = Number.parseInt(env.SHUTDOWN_GRACE, 10);
        const preStop = c.lifecycle.preStop.sleep.seconds;
        expect(preStop).toBeGreaterThan(0);
        expect(
          pod.terminationGracePeriodSeconds,
          `${s}: terminationGracePeriodSeconds > preStop + SHUTDOWN_GRACE`,
        ).toBeGreaterThan(preStop + grace);
        expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://${release}-otel-collector:4318`);
        expect(env.KAFKA_BROKERS).toBe(`${release}-kafka:9092`);
        // V8's heap limits, the same as make dev's (the two were measured together).
        expect(env.NODE_OPTIONS).toBe(SERVICE_NODE_OPTIONS);
        // Its node flags, the same as make dev's and the image's, before the telemetry and the module.
        expect(c.command).toEqual([
          'node',
          ...(SERVICE_NODE_FLAGS[s as ServiceName] ?? []),
          '--import',
          '@shop/platform/instrument',
          'dist/main.js',
        ]);
      }
    }
    const gatewayEnv = get('Deployment', `${release}-gateway-blue`).spec.template.spec.containers[0].env;
    const rate = Object.fromEntries(
      gatewayEnv.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    expect(Number(rate.AUTH_RATE_LIMIT_PER_MINUTE)).toBeGreaterThanOrEqual(100);
    expect(rate.USERS_URL).toBe(`http://${release}-users:8081`);
  });

  it('network policies: who may connect to whom, evaluated over the live pod templates', async () => {
    // Every pod the release runs (both colors, the infrastructure) and its hooks (the
    // migration and seed Jobs, the helm test pod), by their labels.
    const workloads = [
      ...(await k.list('deployments', ns, `app.kubernetes.io/instance=${release}`)),
      ...(await k.list('statefulsets', ns, `app.kubernetes.io/instance=${release}`)),
      ...parseAllDocuments(await helm(['get', 'hooks', release, '-n', ns]))
        .map((d) => d.toJS() as KubeObject)
        .filter((o) => o?.kind === 'Job' || o?.kind === 'Pod'),
    ];
    const pods = workloads.map((o) => {
      const labels: Record<string, string> =
        o.kind === 'Pod' ? (o.metadata.labels ?? {}) : (o.spec.template.metadata.labels ?? {});
      const name = labels['app.kubernetes.io/name'] ?? '?';
      const component = labels['app.kubernetes.io/component'];
      const id =
        name === 'postgres'
          ? `postgres-${labels['shop.example/database']}`
          : component === 'migrate' || component === 'seed'
            ? `${name}-${component}`
            : name;
      return { id, labels };
    });
    const policies = await k.list('networkpolicies', ns);
    const allows = (target: Record<string, string>, source: Record<string, string> | 'outside') => {
      const selecting = policies.filter(
        (p) => (p.spec.policyTypes ?? ['Ingress']).includes('Ingress') && selects(p.spec.podSelector, target),
      );
      if (selecting.length === 0) return true;
      return selecting.some((p) =>
        (p.spec.ingress ?? []).some((rule: { from?: { podSelector?: Selector }[] }) =>
          rule.from === undefined
            ? true
            : source !== 'outside' &&
              rule.from.some((peer) => peer.podSelector !== undefined && selects(peer.podSelector, source)),
        ),
      );
    };
    const reachableFrom: Record<string, string[]> = {};
    for (const target of pods) {
      const from = allows(target.labels, 'outside')
        ? ['*']
        : [...new Set(pods.filter((s) => allows(target.labels, s.labels)).map((s) => s.id))].sort();
      reachableFrom[target.id] = from;
    }
    const owner = (s: string) =>
      [s, `${s}-migrate`, ...(s === 'users' || s === 'inventory' ? [`${s}-seed`] : [])].sort();
    expect(reachableFrom).toEqual({
      // Only the gateway takes traffic from outside the release.
      gateway: ['*'],
      users: ['gateway'],
      inventory: ['gateway', 'orders'],
      orders: ['gateway'],
      shipping: ['gateway'],
      notifications: ['gateway'],
      payments: ['smoke'],
      'payment-provider': ['payments'],
      // Each database only from its owner: the service, its migration and seed Jobs.
      ...Object.fromEntries(databaseServices.map((s) => [`postgres-${s}`, owner(s)])),
      kafka: [...services, 'kafka'].sort(),
      'otel-collector': [...services, 'payment-provider'].sort(),
      jaeger: ['otel-collector'],
      // Hook pods take no traffic at all.
      ...Object.fromEntries(databaseServices.map((s) => [`${s}-migrate`, []])),
      'users-seed': [],
      'inventory-seed': [],
      smoke: [],
    });
  });

  it('the generated secrets are valid', () => {
    const keys = signingKeysEnv.safeParse(generated.secrets?.USER_TOKEN_SIGNING_KEYS);
    expect(keys.success, keys.success ? '' : keys.error.message).toBe(true);
    expect(generated.secrets?.SERVICE_TOKEN_SECRETS?.length).toBeGreaterThanOrEqual(32);
    expect(generated.admin?.password).toBe('admin-password-change-me');
    expect(generated.provider?.['api-key']).toMatch(/^sk_test_/);
  });

  let greenRevision: number;

  it("after a cutover to green by hand (as the CLI does), helm upgrade with a new image tag keeps green, each color's live image and scale, and migrates with the new tag", async () => {
    for (const s of services) {
      // Exactly the color key of both selectors, nothing else.
      await k.kubectl([
        'patch',
        'service',
        `${release}-${s}`,
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { selector: { 'shop.example/color': 'green' } } }),
      ]);
      await k.kubectl([
        'patch',
        'service',
        `${release}-${s}-preview`,
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { selector: { 'shop.example/color': 'blue' } } }),
      ]);
    }
    const cutover = JSON.stringify({
      from: 'blue',
      to: 'green',
      at: new Date().toISOString(),
      by: 'chart-test',
      images: {},
      result: 'ok',
    });
    await k.kubectl([
      'annotate',
      'service',
      `${release}-users`,
      '-n',
      ns,
      `shop.example/last-cutover=${cutover}`,
    ]);
    await k.kubectl([
      'set',
      'image',
      `deployment/${release}-users-green`,
      '-n',
      ns,
      'users=shop-users:cli-rollout',
    ]);
    await k.kubectl(['scale', `deployment/${release}-orders-green`, '-n', ns, '--replicas=2']);
    await eventually('green is active', () => expectEndpoints(all('green')));
    const before = await images();
    expect(before[`${release}-users-green`]).toBe('shop-users:cli-rollout');

    const events = await recordDuring(ns, () =>
      helm([
        'upgrade',
        release,
        chartDir,
        '-n',
        ns,
        ...kindValues,
        '--set',
        'image.tag=2.0.0',
        '--wait',
        '--timeout',
        '240s',
      ]),
    );
    // Traffic stays on green, and no image goes back or forward.
    expect(await activeColors()).toEqual(all('green'));
    expect(await images()).toEqual(before);
    const live = await k.objects('deployments,services', ns);
    expect(live.get(`Deployment/${release}-orders-green`)?.spec.replicas).toBe(2);
    expect(live.get(`Deployment/${release}-orders-blue`)?.spec.replicas).toBe(1);
    const users = live.get(`Service/${release}-users`) as KubeObject;
    expect(users.metadata.annotations?.['shop.example/last-cutover']).toBe(cutover);
    await eventually('green stays active', () => expectEndpoints(all('green')));
    // The migrations of the new version ran; no Deployment was replaced.
    const migrate = events.find((e) => e.name === `${release}-users-migrate` && e.type === 'ADDED');
    expect(migrate?.object.spec.template.spec.containers[0].image).toBe('shop-users:2.0.0');
    expect(events.filter((e) => e.kind === 'Deployment' && e.type !== 'MODIFIED')).toEqual([]);
    // Generated secrets are kept across upgrades.
    const kept = await secrets();
    expect(kept[`${release}-secrets`]).toEqual(generated.secrets);
    expect(kept[`${release}-users-db`]).toEqual(generated.users);
    expect(kept[`${release}-admin`]).toEqual(generated.admin);
    expect(kept[`${release}-payment-provider`]).toEqual(generated.provider);
    greenRevision = Number(JSON.parse(await helm(['status', release, '-n', ns, '-o', 'json'])).version);
  });

  it('an explicit bluegreen.activeColor=blue still moves traffic', async () => {
    await helm([
      'upgrade',
      release,
      chartDir,
      '-n',
      ns,
      ...kindValues,
      '--set',
      'image.tag=2.0.0',
      '--set',
      'bluegreen.activeColor=blue',
      '--wait',
      '--timeout',
      '240s',
    ]);
    expect(await activeColors()).toEqual(all('blue'));
    await eventually('blue is active again', () => expectEndpoints(all('blue')));
    // The images the CLI rolled out are still kept.
    expect((await images())[`${release}-users-green`]).toBe('shop-users:cli-rollout');
  });

  it('helm rollback restores a revision as it was (here: green active)', async () => {
    await helm(['rollback', release, String(greenRevision), '-n', ns, '--wait', '--timeout', '240s']);
    const status = JSON.parse(await helm(['status', release, '-n', ns, '-o', 'json']));
    expect(status.info.status).toBe('deployed');
    expect(status.info.description).toBe(`Rollback to ${greenRevision}`);
    expect(await activeColors()).toEqual(all('green'));
    await eventually('green is active after the rollback', () => expectEndpoints(all('green')));
    await expectDeploymentsAvailable(ns, services.length * 2 + 3);
  });

  it('helm test runs the smoke suite pod and passes', async () => {
    const out = await helm(['test', release, '-n', ns, '--timeout', '180s']);
    expect(out).toMatch(/TEST SUITE:\s+shop-smoke/);
    expect(out).toMatch(/Phase:\s+Succeeded/);
    const pod = await k.get(['pod', `${release}-smoke`, '-n', ns]);
    const c = pod.spec.containers[0];
    expect(c.image).toBe('shop-smoke:2.0.0');
    expect(c.command).toEqual(['node', 'dist/run.js']);
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? 'secret']),
    );
    expect(env).toMatchObject({
      SMOKE_BASE_URL: `http://${release}-gateway:8080`,
      SMOKE_PAYMENTS_URL: `http://${release}-payments:8083`,
      SMOKE_ADMIN_EMAIL: 'secret',
      SMOKE_ADMIN_PASSWORD: 'secret',
    });
  });

  it('production values: one install, pre-install migrations before the Deployments, nothing local', async () => {
    const { events, provided } = await production;
    expectMigrationsFirst(events);
    // Two colors of each service; no local infrastructure.
    await expectDeploymentsAvailable(prodNs, services.length * 2);
    expect(await k.list('statefulsets', prodNs)).toEqual([]);
    // The chart made no Secret of its own (only Helm's release record).
    const made = (await k.list('secrets', prodNs))
      .map((s) => s.metadata.name)
      .filter((n) => !n.startsWith('sh.helm.release'));
    expect(made.sort()).toEqual(provided.map(([name]) => name).sort());
    const d = await k.get(['deployment', `${release}-users-blue`, '-n', prodNs]);
    expect(d.spec.replicas).toBe(2);
    const c = d.spec.template.spec.containers[0];
    expect(c.image).toBe('registry.example.com/shop/shop-users:1.0.0');
    expect(c.imagePullPolicy).toBe('Always');
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(env.DATABASE_URL).toEqual({ secretKeyRef: { name: 'shop-users-database', key: 'url' } });
    expect(env.KAFKA_BROKERS).toBe('kafka-0.kafka.example.com:9092,kafka-1.kafka.example.com:9092');
    expect(env.KAFKA_REPLICATION_FACTOR).toBe('3');
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector.observability.example.com:4318');
    expect(await activeColors(prodNs)).toEqual(all('blue'));
  });

  // Started in beforeAll; last here so that waiting for it never holds up the chain above.
  it('server-side dry run accepts every rendered object of every value set', async () => {
    await dryRuns;
  });
});
