// Writes what tools other than TypeScript read about the services, from their
// one declaration (packages/contracts/src/system.ts):
//
// - deploy/helm/shop/templates/_catalog.tpl, the chart's view: which services
//   it deploys in two colors and in which order, their ports, databases,
//   consumers, who calls whom (the variables in each pod's environment and the
//   NetworkPolicies), and the order of the migration hooks;
// - scripts/lib/system.sh, the same lists for the shell scripts that build,
//   run and deploy the images (test-images.sh, local-up.sh, kind-up.sh).
//
//   npm run system:generate             rewrite both files
//   npm run system:generate -- --check  exit 1 naming a file that says something else
// (packages/stack/test/system.test.ts runs the check, so a service added to the
// declaration and not regenerated fails the unit tests with this command to run).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { coloredServices, databaseServices, type ServiceName, serviceNames, system } from '@shop/contracts';

const chartCatalog = fileURLToPath(new URL('../deploy/helm/shop/templates/_catalog.tpl', import.meta.url));
const shellLists = fileURLToPath(new URL('./lib/system.sh', import.meta.url));

// Callers the declaration does not know because they are not services: the
// chart's helm test pod reads payments' /metrics, and payments has no other caller.
const testCallers: Partial<Record<ServiceName, string[]>> = { payments: ['smoke'] };

/** Who calls `name` over HTTP, among the chart's services, in start order. */
function callersOf(name: ServiceName): string[] {
  const services = coloredServices.filter((caller) => name in system[caller].calls);
  return [...services, ...(testCallers[name] ?? [])];
}

/** The services `name` calls that the chart deploys (the card processor has its own variable). */
function chartCallsOf(name: ServiceName): Record<string, string> {
  return Object.fromEntries(
    Object.entries(system[name].calls).filter(([callee]) => (coloredServices as string[]).includes(callee)),
  );
}

const flow = (values: readonly string[]) => `[${values.join(', ')}]`;
const flowMap = (entries: Record<string, string>) =>
  `{ ${Object.entries(entries)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ')} }`.replace('{  }', '{}');

export function renderCatalog(): string {
  const lines = coloredServices.map((name) => {
    const service = system[name];
    const fields: Record<string, string> = {
      port: String(service.port),
      database: String(service.database),
      consumes: String(service.consumes),
      callers: flow(callersOf(name)),
      calls: flowMap(chartCallsOf(name)),
    };
    const migrationOrder = (databaseServices as ServiceName[]).indexOf(name);
    // Every migration hook runs after the database Secrets (-20) and before any
    // Deployment, in the services' start order.
    if (migrationOrder >= 0) fields.weight = String(migrationOrder - 10);
    return `${name}: ${flowMap(fields)}`;
  });
  return `{{/*
Written by \`npm run system:generate\` (scripts/generate-system.ts) from the services'
declaration, packages/contracts/src/system.ts: do not edit.

What the chart knows about each service (not configuration: the architecture).
port: what it listens on and its Services' port. database: it owns one (and has
migrations). consumes: it has consumer groups (which only the active color runs,
bluegreen.followActiveColor). callers: who may call it over HTTP (NetworkPolicy
ingress); the gateway takes traffic from outside the release. calls: the
services it calls, by the variable that gives each one's URL. weight: the order
of its migration hook (all before any Deployment).
*/}}
{{- define "shop.catalog" -}}
${lines.join('\n')}
{{- end }}

{{/* The services in the order they start. */}}
{{- define "shop.serviceNames" -}}
${flow(coloredServices)}
{{- end }}
{{- define "shop.databaseServices" -}}
${flow(databaseServices)}
{{- end }}
`;
}

export function renderShellLists(): string {
  const array = (name: string, values: readonly string[]) => `${name}=(${values.join(' ')})`;
  const calls = serviceNames
    .filter((name) => Object.keys(system[name].calls).length > 0)
    .map((name) => {
      const pairs = Object.entries(system[name].calls).map(([callee, variable]) => `${variable}=${callee}`);
      return `\t[${name}]="${pairs.join(' ')}"`;
    });
  return `# shellcheck shell=bash disable=SC2034
# Written by \`npm run system:generate\` (scripts/generate-system.ts) from the
# services' declaration, packages/contracts/src/system.ts: do not edit.

# Every service, in the order they start (stopped in reverse).
${array('SYSTEM_SERVICES', serviceNames)}
# The services deployed as a blue and a green Deployment (all but the card processor).
${array('SYSTEM_COLORED_SERVICES', coloredServices)}
# The services that own a database (and have migrations).
${array('SYSTEM_DATABASE_SERVICES', databaseServices)}
# The services each one calls over HTTP: VARIABLE=service, the variable holding its URL.
declare -A SYSTEM_CALLS=(
${calls.join('\n')}
)
`;
}

const outputs = [
  { path: chartCatalog, render: renderCatalog },
  { path: shellLists, render: renderShellLists },
];

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const { path, render } of outputs) {
    const wanted = render();
    if (!check) {
      writeFileSync(path, wanted);
      continue;
    }
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {}
    if (current !== wanted) {
      stale++;
      process.stderr.write(
        `${path} is not what packages/contracts/src/system.ts declares: run \`npm run system:generate\`\n`,
      );
    }
  }
  process.exit(stale > 0 ? 1 : 0);
}
