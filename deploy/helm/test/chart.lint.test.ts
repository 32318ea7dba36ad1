// Static checks of deploy/helm/shop, no cluster needed (also `make helm-lint`);
// the suites run their tests concurrently (each one only reads files and runs helm
// or kube-score):
// helm lint --strict and helm template for the three value sets, kube-score over
// every rendering with no finding left unexplained, values.schema.json, the
// Ed25519 key the chart generates; and what `make up` and `skaffold dev` use
// around the chart (deploy/kind/cluster.yaml, skaffold.yaml, scripts/kind-up.sh),
// which need Docker to run and are checked here for what can be checked without.
import {
  accessSync,
  constants,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coloredServices, databaseServices } from '@shop/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { SERVICE_NODE_FLAGS } from '../../../packages/stack/src/services.js';
import { signingKeysEnv } from '../../../services/users/src/signing-keys.js';
import { chartDir, loadVersions, ok, repoRoot, run } from './tools.js';

const valueSets: Record<string, string[]> = {
  defaults: [],
  kind: ['-f', join(chartDir, 'values-kind.yaml')],
  production: [
    '-f',
    join(chartDir, 'values-production.yaml'),
    '-f',
    join(repoRoot, 'deploy/helm/test/production-site.yaml'),
  ],
  // The load generator's Deployment is off in every file above.
  'kind with the load generator': ['-f', join(chartDir, 'values-kind.yaml'), '--set', 'load.enabled=true'],
  // make up without Docker (scripts/local-up.sh sets the rest the same way).
  'real node': [
    '-f',
    join(chartDir, 'values-real-node.yaml'),
    '--set',
    'kafka.brokers=10.250.0.1:19094',
    ...databaseServices.flatMap((s) => [
      '--set',
      `services.${s}.database.url=postgresql://${s}:${s}@10.250.0.1:15432/shop_k8s_${s}`,
    ]),
  ],
};
// The first install of a value set with in-chart infrastructure renders only the
// infrastructure (bootstrap.infrastructureFirst); an upgrade renders everything.
const modes: Record<string, string[]> = { install: [], upgrade: ['--is-upgrade'] };

const kubeScoreArgs = [
  'score',
  '--output-format',
  'json',
  '--enable-optional-test',
  'container-seccomp-profile',
  '--enable-optional-test',
  'container-ports-check',
  '-',
];

interface KubeScoreObject {
  object_name: string;
  type_meta: { kind: string };
  object_meta: { annotations?: Record<string, string> };
  checks: {
    check: { id: string; name: string };
    grade: number;
    skipped: boolean;
    comments: { summary: string }[] | null;
  }[];
}

let tools: Record<string, string>;
const helm = (args: string[]) => ok(tools.HELM as string, args);
const template = (set: string, mode: string, extra: string[] = []) =>
  helm([
    'template',
    'shop',
    chartDir,
    '--namespace',
    'shop',
    ...(valueSets[set] ?? []),
    ...(modes[mode] ?? []),
    ...extra,
  ]);

async function kubeScore(manifests: string): Promise<KubeScoreObject[]> {
  // kube-score exits 1 when it has critical findings; the JSON says which.
  const result = await run(tools.KUBE_SCORE as string, kubeScoreArgs, { input: manifests });
  if (result.code > 1) throw new Error(`kube-score failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as KubeScoreObject[];
}

const findings = (objects: KubeScoreObject[]) =>
  objects.flatMap((o) =>
    o.checks
      .filter((c) => !c.skipped && c.grade < 10)
      .map(
        (c) =>
          `${o.type_meta.kind}/${o.object_name}: ${c.check.id} (${(c.comments ?? []).map((m) => m.summary).join('; ')})`,
      ),
  );

const declaredIgnores = (objects: KubeScoreObject[]) =>
  objects.flatMap((o) =>
    (o.object_meta.annotations?.['kube-score/ignore'] ?? '')
      .split(',')
      .filter(Boolean)
      .map((id) => `${o.type_meta.kind}/${o.object_name}: ${id.trim()}`),
  );

beforeAll(() => {
  tools = loadVersions();
});

describe.concurrent('values.schema.json', () => {
  it('is what deploy/helm/schema.mjs writes', async () => {
    await ok(process.execPath, [join(repoRoot, 'deploy/helm/schema.mjs'), '--check']);
  });

  it.each([
    [
      ['--set', 'bluegreen.activeColor=purple'],
      "at '/bluegreen/activeColor': value must be one of '', 'blue', 'green'",
    ],
    [['--set', 'services.orders.replicas=-1'], "at '/services/orders/replicas': minimum: got -1, want 0"],
    [
      ['--set', 'services.orders.replcas=2'],
      "at '/services/orders': additional properties 'replcas' not allowed",
    ],
    [
      ['--set-string', 'services.gateway.rateLimit.authPerMinute=lots'],
      "at '/services/gateway/rateLimit/authPerMinute': got string, want integer",
    ],
    [['--set', 'shutdown.grace=10'], "at '/shutdown/grace'"],
    [['--set', 'services.users.database.url=mysql://x'], "at '/services/users/database/url'"],
    [
      ['--set', 'image.pullPolicy=Sometimes'],
      "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
    ],
    [['--set', 'secrets.serviceTokenSecrets=too-short'], "at '/secrets/serviceTokenSecrets'"],
    [['--set', 'load.rate=0'], "at '/load/rate'"],
    [['--set', 'load.duration=forever'], "at '/load/duration'"],
  ])('rejects %j with a message naming the value', async (args, message) => {
    const result = await run(tools.HELM as string, ['template', 'shop', chartDir, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });

  it.each([
    [
      ['-f', join(chartDir, 'values-production.yaml')],
      'kafka.brokers is required when kafka.enabled is false',
    ],
    [
      ['--set', 'postgres.enabled=false', '--is-upgrade'],
      'services.users.database: set url or existingSecret (or postgres.enabled=true',
    ],
    [
      ['--set', 'shutdown.terminationGracePeriodSeconds=12', '--is-upgrade'],
      'shutdown.terminationGracePeriodSeconds (12) must be larger than shutdown.preStopSeconds + SHUTDOWN_GRACE (5 + 10)',
    ],
    [
      ['--set', 'load.enabled=true', '--set', 'seed.admin.enabled=false', '--is-upgrade'],
      'load.enabled needs seed.admin.enabled',
    ],
  ])('the templates refuse %j: %s', async (args, message) => {
    const result = await run(tools.HELM as string, ['template', 'shop', chartDir, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});

describe.concurrent.each(Object.keys(valueSets))('value set %s', (set) => {
  it('passes helm lint --strict', async () => {
    const out = await helm(['lint', '--strict', chartDir, ...(valueSets[set] ?? [])]);
    expect(out).toContain('0 chart(s) failed');
  });

  it.each(Object.keys(modes))(
    'renders (%s) with no kube-score finding, and every exception is needed and explained',
    async (mode) => {
      const manifests = await template(set, mode);
      const scored = await kubeScore(manifests);
      expect(scored.length).toBeGreaterThan(5);
      expect(findings(scored)).toEqual([]);

      // The same manifests without the ignore annotations: exactly the declared
      // exceptions fire, so no exception is stale and none hides another finding.
      const unignored = await kubeScore(manifests.replaceAll('kube-score/ignore:', 'kube-score-was/ignore:'));
      const raised = findings(unignored).map((f) => f.replace(/ \(.*\)$/, ''));
      expect([...new Set(raised)].sort()).toEqual([...new Set(declaredIgnores(scored))].sort());

      // Every check the chart skips has its reason in the chart README.
      const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
      for (const id of new Set(declaredIgnores(scored).map((d) => d.split(': ')[1]))) {
        expect(readme, `README.md explains ${id}`).toMatch(new RegExp(`\\|\\s*\`${id}\`\\s*\\|`));
      }
    },
  );
});

describe.concurrent('generated secrets', () => {
  it('the chart makes a valid Ed25519 signing key (the users service accepts it)', async () => {
    const keys = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const out = await template('kind', 'install', ['--show-only', 'templates/secrets.yaml']);
      const encoded = /USER_TOKEN_SIGNING_KEYS: "([^"]+)"/.exec(out)?.[1];
      expect(encoded, 'USER_TOKEN_SIGNING_KEYS in the rendered Secret').toBeTruthy();
      const value = Buffer.from(encoded as string, 'base64').toString();
      const parsed = signingKeysEnv.safeParse(value);
      expect(parsed.success, parsed.success ? '' : parsed.error.message).toBe(true);
      keys.add(value);
    }
    expect(keys.size).toBe(3);
  });

  it('a key given in values is used as it is', async () => {
    const given = JSON.stringify([
      {
        kty: 'OKP',
        crv: 'Ed25519',
        x: 'U2s6NsNI7FoYJrYMwnytkGFlGACOxyK9rk1yh3BbojQ',
        d: '6dG9lxH7odP74RolFkiT57FPLG7RsopU3D5yL25TFII',
        kid: 'given',
      },
    ]);
    const out = await template('kind', 'install', [
      '--show-only',
      'templates/secrets.yaml',
      '--set-string',
      `secrets.userTokenSigningKeys=${given.replaceAll(',', '\\,')}`,
    ]);
    const encoded = /USER_TOKEN_SIGNING_KEYS: "([^"]+)"/.exec(out)?.[1] ?? '';
    expect(Buffer.from(encoded, 'base64').toString()).toBe(given);
  });
});

// ---- kind, skaffold and `make up` -------------------------------------------------

describe.concurrent("the services' node flags (services.<name>.nodeFlags)", () => {
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests, checked field by field below
  type Manifest = any;
  const commands = async (sets: string[] = []) => {
    const docs: Manifest[] = parseAllDocuments(await template('defaults', 'upgrade', sets))
      .map((d) => d.toJS())
      .filter(Boolean);
    return Object.fromEntries(
      coloredServices.map((s) => [
        s,
        docs.find((d) => d.kind === 'Deployment' && d.metadata.name === `shop-${s}-blue`).spec.template.spec
          .containers[0].command,
      ]),
    );
  };

  it('come before the telemetry and the module, as make dev and the images run them', async () => {
    const byService = await commands();
    for (const s of coloredServices) {
      expect(byService[s], s).toEqual([
        'node',
        ...(SERVICE_NODE_FLAGS[s] ?? []),
        '--import',
        '@shop/platform/instrument',
        'dist/main.js',
      ]);
    }
    expect(byService.gateway).toContain('--single-threaded-gc');
  });

  it("are kept without telemetry, where the others run their image's command", async () => {
    const byService = await commands(['--set', 'telemetry.enabled=false']);
    expect(byService.gateway).toEqual(['node', ...(SERVICE_NODE_FLAGS.gateway ?? []), 'dist/main.js']);
    expect(byService.users).toBeUndefined();
  });

  it('refuses what is not a flag', async () => {
    const result = await run(tools.HELM as string, [
      'template',
      'shop',
      chartDir,
      '--set',
      'services.users.nodeFlags={rm -rf}',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/services/users/nodeFlags/0');
  });
});

describe.concurrent('the load generator (load.enabled)', () => {
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests, checked field by field below
  type Manifest = any;
  /** The default values, upgraded, with these `--set`s. */
  const render = async (sets: Record<string, string> = {}): Promise<Manifest[]> =>
    parseAllDocuments(
      await template(
        'defaults',
        'upgrade',
        Object.entries(sets).flatMap(([key, value]) => ['--set', `${key}=${value}`]),
      ),
    )
      .map((d) => d.toJS())
      .filter(Boolean);
  const loadDeployment = (docs: Manifest[]) =>
    docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'shop-load');

  it('is off by default', async () => {
    expect(loadDeployment(await render())).toBeUndefined();
  });

  it('runs one generator against the active gateway, signed in as the seeded admin, and lets it drain on SIGTERM', async () => {
    const docs = await render({
      'load.enabled': 'true',
      'load.rate': '2.5',
      'load.drain': '45s',
      'load.customers': '30',
      'load.extraArgs': '{--seed=7}',
    });
    const deployment = loadDeployment(docs);
    expect(deployment.spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    const pod = deployment.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    const [container] = pod.containers;
    expect(container).toMatchObject({
      image: 'shop-load:0.1.0',
      command: ['node', 'dist/cli.js'],
      args: ['--seed=7'],
    });
    const env = Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      LOAD_BASE_URL: 'http://shop-gateway:8080',
      LOAD_RATE: '2.5',
      LOAD_DURATION: '0',
      LOAD_DRAIN: '45s',
      LOAD_CUSTOMERS: '30',
      LOAD_ADMIN_EMAIL: { secretKeyRef: { name: 'shop-admin', key: 'email' } },
      LOAD_ADMIN_PASSWORD: { secretKeyRef: { name: 'shop-admin', key: 'password' } },
    });
    // The active gateway Service exists under that name.
    expect(docs.some((d) => d.kind === 'Service' && d.metadata.name === 'shop-gateway')).toBe(true);
    expect(docs.some((d) => d.kind === 'ServiceAccount' && d.metadata.name === pod.serviceAccountName)).toBe(
      true,
    );
  });

  it('is admitted to the gateway when networkPolicy.gatewayFrom narrows who may call it', async () => {
    const docs = await render({
      'load.enabled': 'true',
      'networkPolicy.gatewayFrom[0].ipBlock.cidr': '10.0.0.0/8',
    });
    const policy = docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === 'shop-gateway');
    expect(policy.spec.ingress[0].from).toEqual([
      { ipBlock: { cidr: '10.0.0.0/8' } },
      {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/instance': 'shop', 'app.kubernetes.io/name': 'load' },
        },
      },
    ]);
  });
});

const readYaml = (path: string) => parseYaml(readFileSync(join(repoRoot, path), 'utf8'));
const services = coloredServices;
// Every image the chart deploys: the services, the card simulator, the helm test
// pod and the load generator (when load.enabled).
const images = [...services, 'payment-provider', 'smoke', 'load'];
const dockerfileTargets = () =>
  [...readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+\S+\s+AS\s+(\S+)\s*$/gim)].map(
    (m) => m[1],
  );

describe('deploy/kind/cluster.yaml', () => {
  it("maps a host port to the gateway's NodePort in values-kind.yaml, on 127.0.0.1 only", () => {
    const cluster = readYaml('deploy/kind/cluster.yaml');
    expect(cluster).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4', name: 'shop' });
    const kindValues = readYaml('deploy/helm/shop/values-kind.yaml');
    const gateway = kindValues.services.gateway.service;
    expect(gateway).toEqual({ type: 'NodePort', nodePort: 30080 });
    const mappings = cluster.nodes.flatMap(
      (n: { extraPortMappings?: unknown[] }) => n.extraPortMappings ?? [],
    );
    expect(mappings).toEqual([
      { containerPort: gateway.nodePort, hostPort: 8080, listenAddress: '127.0.0.1', protocol: 'TCP' },
    ]);
  });
});

describe.concurrent('skaffold.yaml', () => {
  const skaffold = readYaml('skaffold.yaml');
  const artifacts: { image: string; context: string; docker: { dockerfile: string; target: string } }[] =
    skaffold.build.artifacts;

  it('is a skaffold v2 config that builds every image the chart deploys from its Dockerfile target', () => {
    expect(skaffold).toMatchObject({ apiVersion: 'skaffold/v4beta11', kind: 'Config' });
    expect(Object.keys(skaffold).sort()).toEqual([
      'apiVersion',
      'build',
      'deploy',
      'kind',
      'metadata',
      'profiles',
    ]);
    expect(artifacts.map((a) => a.image).sort()).toEqual(images.map((i) => `shop-${i}`).sort());
    const targets = dockerfileTargets();
    for (const a of artifacts) {
      expect(a).toEqual({
        image: `shop-${a.docker.target}`,
        context: '.',
        docker: { dockerfile: 'Dockerfile', target: a.docker.target },
      });
      expect(targets, `the Dockerfile has a stage named ${a.docker.target}`).toContain(a.docker.target);
    }
    // scripts/kind-up.sh (make up) builds the same targets: every service of the declaration
    // (scripts/lib/system.sh), the helm test image and the load generator's.
    const script = readFileSync(join(repoRoot, 'scripts/kind-up.sh'), 'utf8');
    expect(script).toMatch(/^TARGETS=\("\$\{SYSTEM_SERVICES\[@\]\}" smoke load\)$/m);
    const lists = readFileSync(join(repoRoot, 'scripts/lib/system.sh'), 'utf8');
    const declared = /^SYSTEM_SERVICES=\(([^)]*)\)$/m.exec(lists)?.[1]?.trim().split(/\s+/) ?? [];
    expect([...declared, 'smoke', 'load'].sort()).toEqual([...images].sort());
  });

  it('deploys the chart with each built image where the chart takes it, and the schema and templates accept that', async () => {
    const release = skaffold.deploy.helm.releases[0];
    expect(skaffold.deploy.helm.releases).toHaveLength(1);
    expect(release).toMatchObject({
      name: 'shop',
      chartPath: 'deploy/helm/shop',
      namespace: 'shop',
      wait: true,
    });
    const templates: Record<string, string> = release.setValueTemplates;
    const expected: Record<string, string> = {};
    const fq = (image: string) =>
      `{{.IMAGE_FULLY_QUALIFIED_${`shop-${image}`.replace(/[^A-Za-z0-9]/g, '_')}}}`;
    for (const s of services) {
      expected[`services.${s}.image`] = fq(s);
      expected[`services.${s}.colors.blue.image`] = fq(s);
      expected[`services.${s}.colors.green.image`] = fq(s);
    }
    expected['paymentProvider.image'] = fq('payment-provider');
    expected['tests.smoke.image'] = fq('smoke');
    expected['load.image'] = fq('load');
    expect(templates).toEqual(expected);

    // What skaffold runs, with made-up built images: the schema accepts every key.
    const built = (template: string) =>
      `${/IMAGE_FULLY_QUALIFIED_(\w+)/.exec(template)?.[1]?.replaceAll('_', '-')}:skaffold-abc123`;
    const sets = Object.entries(templates).flatMap(([key, value]) => ['--set', `${key}=${built(value)}`]);
    const kindProfile = skaffold.profiles.find((p: { name: string }) => p.name === 'kind');
    const valuesFiles: string[] = kindProfile.patches.find(
      (p: { path: string }) => p.path === '/deploy/helm/releases/0/valuesFiles',
    ).value;
    const manifests = await helm([
      'template',
      release.name,
      join(repoRoot, release.chartPath),
      ...valuesFiles.flatMap((f) => ['-f', join(repoRoot, f)]),
      ...sets,
      '--set',
      'load.enabled=true',
      '--is-upgrade',
    ]);
    const used = new Set([...manifests.matchAll(/image: "([^"]+)"/g)].map((m) => m[1]));
    for (const image of images) expect(used).toContain(`shop-${image}:skaffold-abc123`);
    expect([...used].filter((i) => i?.startsWith('shop-') && !i.endsWith(':skaffold-abc123'))).toEqual([]);
  });

  it('has a kind profile for the kind-shop context, and its before-deploy hook exists', () => {
    const kindProfile = skaffold.profiles.find((p: { name: string }) => p.name === 'kind');
    const cluster = readYaml('deploy/kind/cluster.yaml');
    expect(kindProfile.activation).toEqual([{ kubeContext: `kind-${cluster.name}` }]);
    expect(kindProfile.deploy).toEqual({ kubeContext: `kind-${cluster.name}` });
    const [valuesPatch] = kindProfile.patches;
    expect(valuesPatch).toEqual({
      op: 'add',
      path: '/deploy/helm/releases/0/valuesFiles',
      value: ['deploy/helm/shop/values-kind.yaml'],
    });
    const hook = skaffold.deploy.helm.hooks.before[0].host.command;
    expect(hook).toEqual(['scripts/kind-up.sh', 'bootstrap']);
    accessSync(join(repoRoot, hook[0]), constants.X_OK);
  });
});

describe('make up without what it needs', () => {
  // A PATH with only the basic tools the script uses, plus fakes for the rest.
  const bin = mkdtempSync(join(tmpdir(), 'shop-kind-up-'));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  for (const tool of ['bash', 'sed', 'grep', 'head', 'dirname', 'seq', 'sleep']) {
    const path = ['/usr/bin', '/bin']
      .map((d) => join(d, tool))
      .find((p) => {
        try {
          accessSync(p, constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
    if (path) symlinkSync(path, join(bin, tool));
  }
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };
  const up = () =>
    run('bash', [join(repoRoot, 'scripts/kind-up.sh'), 'up'], { timeoutMs: 30_000, env: { PATH: bin } });

  it('names every missing tool at once, with where to get it, and creates nothing', async () => {
    const started = Date.now();
    const result = await up();
    expect(result.code).toBe(1);
    for (const tool of ['docker', 'kind', 'kubectl', 'helm', 'node', 'npm']) {
      expect(result.stderr).toMatch(new RegExp(`- ${tool} is not installed \\([0-9.]+ or newer\\): \\S+`));
    }
    expect(result.stderr).toContain('deploy/helm/shop/README.md');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('says when the Docker engine does not answer and when a tool is too old', async () => {
    fake(
      'docker',
      `case "$*" in *Server*) echo 'Cannot connect to the Docker daemon' >&2; exit 1 ;; *) echo 27.3.1 ;; esac`,
    );
    fake('kind', 'echo "kind v0.20.0 go1.20.4 linux/amd64"');
    fake('kubectl', 'echo "Client Version: v1.31.2"');
    fake('helm', 'echo v3.16.2');
    fake('node', 'echo v24.11.1');
    fake('npm', 'echo 11.6.2');
    const result = await up();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('docker 27.3.1 is installed but no Docker engine answers');
    expect(result.stderr).toContain('kind 0.20.0 is too old: 0.24 or newer is needed');
    expect(result.stderr).not.toMatch(/is not installed|kubectl .* too old|helm .* too old|node .* too old/);
    // Nothing was built or created: the fakes would have been called with other arguments.
    expect(result.stderr).not.toContain('creating kind cluster');
  });
});
