// The chart's observability pieces, rendered with helm, no cluster needed:
// the Grafana dashboards' ConfigMap (label, valid JSON, and every query asks
// for metrics, and labels of them, that the services really export), the
// production sampler, and Jaeger (the release `make dev` builds, with the
// configuration file `make dev` runs it with).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { chartDir, loadVersions, ok, repoRoot } from './tools.js';

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    template?: {
      spec: {
        containers: {
          name: string;
          image: string;
          args?: string[];
          env?: { name: string; value?: string }[];
        }[];
      };
    };
  };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

let helm: string;
const render = async (...args: string[]): Promise<Manifest[]> =>
  parseAllDocuments(
    await ok(helm, ['template', 'shop', chartDir, '--namespace', 'shop', '--is-upgrade', ...args]),
  )
    .map((doc) => doc.toJSON() as Manifest)
    .filter(Boolean);

beforeAll(() => {
  helm = loadVersions().HELM as string;
});

/** The metrics the services' code registers (prom-client), with the labels each declares. */
function exportedMetrics(): Map<string, Set<string>> {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'generated' || entry.name === 'node_modules' || entry.name === 'dist') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) sources.push(readFileSync(path, 'utf8'));
    }
  };
  walk(join(repoRoot, 'packages/platform/src'));
  for (const service of readdirSync(join(repoRoot, 'services')))
    walk(join(repoRoot, 'services', service, 'src'));
  const metrics = new Map<string, Set<string>>();
  for (const source of sources) {
    for (const [, kind, body] of source.matchAll(/new (Counter|Gauge|Histogram)\(\{([\s\S]*?)\}\)/g)) {
      const name = /name: '([a-z_:][a-z0-9_:]*)'/.exec(body!)?.[1];
      if (!name) continue;
      const labels = new Set(
        [...(/labelNames: \[([^\]]*)\]/.exec(body!)?.[1] ?? '').matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!),
      );
      // Every registry labels its metrics with the service (platform/src/metrics.ts).
      labels.add('service');
      if (kind === 'Histogram') {
        labels.add('le');
        for (const suffix of ['_bucket', '_count', '_sum']) metrics.set(`${name}${suffix}`, labels);
      } else metrics.set(name, labels);
    }
  }
  return metrics;
}

/** prom-client's default metrics, which every service registers (collectDefaultMetrics). */
async function defaultMetrics(): Promise<Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    // (prom-client's types say an enum; at run time the type is its lower-case name.)
    if (String(metric.type) === 'histogram')
      for (const s of ['_bucket', '_count', '_sum']) names.add(`${metric.name}${s}`);
  }
  return names;
}

const FUNCTIONS = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'rate',
  'increase',
  'histogram_quantile',
  'topk',
  'by',
]);

/** Each metric a PromQL expression reads, with the labels it matches or groups on. */
function metricsIn(expr: string): { metric: string; labels: string[] }[] {
  const found: { metric: string; labels: string[] }[] = [];
  // A selector: a name, optionally {matchers}, optionally [range].
  for (const match of expr.matchAll(/([a-z_:][a-z0-9_:]*)\s*(\{([^}]*)\})?\s*(\[[^\]]*\])?/g)) {
    const [whole, name, , matchers, range] = match;
    const after = expr.slice(match.index! + whole.length).trimStart();
    if (!name || FUNCTIONS.has(name) || after.startsWith('(')) continue;
    const before = expr.slice(0, match.index).trimEnd();
    // Labels inside `by (...)` are not metrics.
    if (/by \([^)]*$/.test(before)) continue;
    if (!matchers && !range && !/\($/.test(before)) continue;
    const labels = [...(matchers ?? '').matchAll(/([a-z_]+)\s*(=~|!~|!=|=)/g)].map((m) => m[1]!);
    found.push({ metric: name, labels });
  }
  return found;
}

/** Grafana's reference to the dashboard's datasource variable (a literal, not a template string). */
const GRAFANA_DATASOURCE = '$' + '{datasource}';

const groupings = (expr: string) =>
  [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));

describe('the Grafana dashboards', () => {
  it('ship in a ConfigMap that Grafana’s dashboard sidecar picks up, filed in a folder', async () => {
    const configMap = (await render()).find(
      (m) => m.kind === 'ConfigMap' && m.metadata.name === 'shop-dashboards',
    );
    expect(configMap?.metadata.labels?.grafana_dashboard).toBe('1');
    expect(configMap?.metadata.annotations?.grafana_folder).toBe('shop');
    expect(Object.keys(configMap?.data ?? {})).toEqual(['shop.json']);
    const custom = (
      await render('--set', 'dashboards.label=my_dashboards', '--set', 'dashboards.namespace=monitoring')
    ).find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'shop-dashboards') as Manifest & {
      metadata: { namespace?: string };
    };
    expect(custom.metadata.labels?.my_dashboards).toBe('1');
    expect(custom.metadata.namespace).toBe('monitoring');
    expect(
      (await render('--set', 'dashboards.enabled=false')).some((m) => m.metadata.name === 'shop-dashboards'),
    ).toBe(false);
  });

  it('are well-formed: a datasource variable, unique panel ids, panels on the grid', async () => {
    const configMap = (await render()).find((m) => m.metadata.name === 'shop-dashboards');
    for (const [file, text] of Object.entries(configMap?.data ?? {})) {
      const dashboard = JSON.parse(text) as {
        uid: string;
        title: string;
        panels: Panel[];
        templating: { list: { name: string; type: string }[] };
      };
      expect(dashboard.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(dashboard.title).toBeTruthy();
      expect(dashboard.templating.list).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'datasource', type: 'datasource' })]),
      );
      const ids = dashboard.panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: unique panel ids`).toBe(ids.length);
      for (const panel of dashboard.panels) {
        expect(panel.gridPos.x + panel.gridPos.w, `${panel.title} fits the 24 columns`).toBeLessThanOrEqual(
          24,
        );
        if (panel.type === 'row') continue;
        expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: GRAFANA_DATASOURCE });
        expect(panel.targets?.length, `${panel.title} has queries`).toBeGreaterThan(0);
      }
    }
  });

  it('ask only for metrics the services export, and for labels those metrics have', async () => {
    const exported = exportedMetrics();
    const defaults = await defaultMetrics();
    const dashboard = JSON.parse(
      (await render()).find((m) => m.metadata.name === 'shop-dashboards')?.data?.['shop.json'] ?? '{}',
    ) as { panels: Panel[] };
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets ?? []) {
        const metrics = metricsIn(expr);
        expect(metrics.length, `${panel.title}: ${expr} reads a metric`).toBeGreaterThan(0);
        for (const { metric, labels } of metrics) {
          used.add(metric.replace(/_(bucket|count|sum)$/, ''));
          if (defaults.has(metric)) continue;
          const known = exported.get(metric);
          expect(known, `${panel.title}: ${metric} is not exported by any service`).toBeDefined();
          for (const label of [...labels, ...groupings(expr)]) {
            expect(known?.has(label), `${panel.title}: ${metric} has no label ${label}`).toBe(true);
          }
        }
      }
    }
    // The signals the dashboard is for are all on it.
    for (const metric of [
      'http_server_request_duration_seconds',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'consumer_messages_total',
      'order_saga_transitions_total',
      'order_saga_duration_seconds',
      'http_client_breaker_state',
    ]) {
      expect(used, `the dashboard shows ${metric}`).toContain(metric);
    }
  });

  it('reads a selector the way PromQL does (the lint above is only as good as this)', () => {
    expect(
      metricsIn('sum by (service, le) (rate(a_b_bucket{service=~"$service", x!="y"}[$__rate_interval]))'),
    ).toEqual([{ metric: 'a_b_bucket', labels: ['service', 'x'] }]);
    expect(metricsIn('max(gateway_deny_list_entries)')).toEqual([
      { metric: 'gateway_deny_list_entries', labels: [] },
    ]);
    expect(groupings('sum by (to_step, cause) (rate(x[1m]))')).toEqual(['to_step', 'cause']);
  });
});

describe('tracing in the chart', () => {
  it('samples as production should by default: parent-based, 10% of new traces', async () => {
    const gateway = (await render()).find(
      (m) => m.kind === 'Deployment' && m.metadata.name === 'shop-gateway-blue',
    );
    const env = Object.fromEntries(
      (gateway?.spec?.template?.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]),
    );
    expect(env.OTEL_TRACES_SAMPLER).toBe('parentbased_traceidratio');
    expect(env.OTEL_TRACES_SAMPLER_ARG).toBe('0.1');
  });

  it('runs the Jaeger release make dev builds, with the configuration make dev runs it with', async () => {
    const manifests = await render();
    const deployment = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === 'shop-jaeger');
    const container = deployment?.spec?.template?.spec.containers[0];
    const release = /^JAEGER_RELEASE=(\S+)$/m.exec(
      readFileSync(join(repoRoot, 'scripts/jaeger.sh'), 'utf8'),
    )?.[1];
    expect(container?.image).toBe(`jaegertracing/jaeger:${release}`);
    expect(container?.args).toEqual(['--config=/etc/jaeger/config.yaml']);
    const configMap = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'shop-jaeger');
    expect(configMap?.data?.['config.yaml']?.trimEnd()).toBe(
      readFileSync(join(chartDir, 'files/jaeger.yaml'), 'utf8').trimEnd(),
    );
  });
});
