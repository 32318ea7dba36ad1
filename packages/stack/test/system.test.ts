// The system's services are declared once (packages/contracts/src/system.ts).
// What derives from that declaration in code cannot drift; what is written out
// elsewhere, in files another tool reads, is checked against it here, so a
// service added in one place and forgotten in another fails this test with
// the place named.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  coloredServices,
  databaseServices,
  gatewayUpstreams,
  type ServiceName,
  serviceNames,
  system,
} from '@shop/contracts';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderCatalog, renderShellLists } from '../../../scripts/generate-system.js';

const root = join(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

describe('the declaration of the services', () => {
  it('has one entry per folder under services/', () => {
    const folders = readdirSync(join(root, 'services'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect([...serviceNames].sort()).toEqual(folders.sort());
  });

  it('says which services have migrations, and they do', () => {
    for (const name of serviceNames) {
      const migrations = existsSync(join(root, 'services', name, 'prisma/migrations'));
      expect(migrations, `services/${name}/prisma/migrations`).toBe(system[name].database);
    }
  });

  it('gives every service its own port', () => {
    const ports = serviceNames.map((name) => system[name].port);
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('starts each service after the services it calls (the gateway calls every upstream and users)', () => {
    for (const name of serviceNames) {
      for (const callee of Object.keys(system[name].calls)) {
        expect(serviceNames, `${name} calls ${callee}`).toContain(callee);
        expect(serviceNames.indexOf(callee as ServiceName), `${callee} starts before ${name}`).toBeLessThan(
          serviceNames.indexOf(name),
        );
      }
    }
    expect(Object.keys(system.gateway.calls).sort()).toEqual(
      [...new Set([...gatewayUpstreams, 'users'])].sort(),
    );
  });

  it('routes each gateway prefix to one service, and no prefix hides another', () => {
    const prefixes = gatewayUpstreams.flatMap((name) => system[name].routes);
    expect(new Set(prefixes).size).toBe(prefixes.length);
    for (const prefix of prefixes) {
      expect(prefix).toMatch(/^\/api\/v\d+\/[a-z-]+$/);
      expect(prefixes.filter((other) => other !== prefix && other.startsWith(`${prefix}/`))).toEqual([]);
    }
  });
});

describe('what other tools read matches the declaration', () => {
  it('Dockerfile: one final target per service, named after it', () => {
    const targets = [...read('Dockerfile').matchAll(/^FROM instrumented AS (\S+)$/gm)].map((m) => m[1]);
    expect(targets.sort()).toEqual([...serviceNames].sort());
  });

  it('skaffold.yaml: one image per service, deployed to both colors of each colored service', () => {
    const skaffold = parse(read('skaffold.yaml')) as {
      build: { artifacts: { image: string; docker: { target: string } }[] };
      deploy: { helm: { releases: { setValueTemplates: Record<string, string> }[] } };
    };
    const images = skaffold.build.artifacts.map((artifact) => [artifact.image, artifact.docker.target]);
    for (const name of serviceNames) expect(images).toContainEqual([`shop-${name}`, name]);
    const values = skaffold.deploy.helm.releases[0]!.setValueTemplates;
    const image = (name: string) => `{{.IMAGE_FULLY_QUALIFIED_shop_${name.replaceAll('-', '_')}}}`;
    for (const name of coloredServices) {
      for (const key of [
        `services.${name}.image`,
        `services.${name}.colors.blue.image`,
        `services.${name}.colors.green.image`,
      ]) {
        expect(values[key], key).toBe(image(name));
      }
    }
    const colored = Object.keys(values)
      .filter((key) => key.startsWith('services.'))
      .map((key) => key.split('.')[1]);
    expect([...new Set(colored)].sort()).toEqual([...coloredServices].sort());
  });

  it("the chart's catalog and the shell scripts' lists are what `npm run system:generate` writes", () => {
    const stale = 'is stale: run `npm run system:generate`';
    expect(read('deploy/helm/shop/templates/_catalog.tpl'), `_catalog.tpl ${stale}`).toBe(renderCatalog());
    expect(read('scripts/lib/system.sh'), `scripts/lib/system.sh ${stale}`).toBe(renderShellLists());
  });

  it('the chart: values for every colored service, in every value set and in the schema', () => {
    const values = parse(read('deploy/helm/shop/values.yaml')) as { services: Record<string, unknown> };
    expect(Object.keys(values.services).sort()).toEqual([...coloredServices].sort());
    const schema = JSON.parse(read('deploy/helm/shop/values.schema.json')) as {
      properties: { services: { required: string[]; properties: Record<string, unknown> } };
    };
    expect([...schema.properties.services.required].sort()).toEqual([...coloredServices].sort());
    // Production names a database Secret for each service that owns a database.
    const production = parse(read('deploy/helm/shop/values-production.yaml')) as {
      services: Record<string, { database?: { existingSecret?: string } }>;
    };
    for (const name of databaseServices) {
      expect(production.services[name]?.database?.existingSecret, `values-production.yaml: ${name}`).toBe(
        `shop-${name}-database`,
      );
    }
  });

  it('scripts/lib/postgres.sh: a database and a role for every service that owns one', () => {
    const line = read('scripts/lib/postgres.sh').match(/^PG_SERVICES=\(([^)]*)\)$/m);
    expect(line, 'PG_SERVICES=(...) in scripts/lib/postgres.sh').not.toBeNull();
    expect(line![1]!.split(/\s+/).filter(Boolean).sort()).toEqual([...databaseServices].sort());
  });

  it('README.md: the table of services has a row for each, linking its README', () => {
    const readme = read('README.md');
    for (const name of serviceNames) {
      const link = existsSync(join(root, 'services', name, 'README.md'))
        ? `[${name}](services/${name}/README.md)`
        : `[${name}](services/${name}/`;
      expect(readme, `the README's row for ${name}`).toContain(`| ${link}`);
    }
  });
});
