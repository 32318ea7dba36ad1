// Runs inside the image build (see the Dockerfile), with nothing but Node and
// npm: lays out, for every service of the workspace, exactly the files its
// final image needs, under <out>/<service>/, mirroring the checkout's layout
// so that the workspace links in node_modules keep pointing at the right
// place (node_modules/@shop/platform -> ../../packages/platform).
//
//   node assemble.mjs deps <out>  in a tree with every manifest and the lockfile:
//                                 per service, `npm ci --omit=dev --workspace services/<name>`
//                                 (that service's production dependencies only, hoisted
//                                 as npm does), minus manifests nothing links to.
//   node assemble.mjs app <out>   in the built tree: per service, its package.json,
//                                 dist/ and prisma/ (plus prisma.config.*), and the
//                                 package.json and dist/ of every workspace package
//                                 it depends on (transitively, production deps only).
//
// What runs must be compiled into dist/ by the package's own `build` script
// (tsc, prisma generate, copying assets): nothing else of src/ is taken.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [mode, out] = process.argv.slice(2);
if (!['deps', 'app'].includes(mode) || !out) {
  console.error('usage: node assemble.mjs deps|app <out>');
  process.exit(2);
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const root = readJson('package.json');

// Workspace folders from the root's "workspaces": literal paths and "dir/*".
const workspaces = new Map(); // package name -> folder
for (const pattern of root.workspaces ?? []) {
  const dirs = pattern.endsWith('/*')
    ? existsSync(pattern.slice(0, -2))
      ? readdirSync(pattern.slice(0, -2), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => join(pattern.slice(0, -2), d.name))
      : []
    : [pattern];
  for (const dir of dirs) {
    if (existsSync(join(dir, 'package.json'))) workspaces.set(readJson(join(dir, 'package.json')).name, dir);
  }
}

const services = [...workspaces.values()].filter((dir) => dir.startsWith('services/')).sort();

// The workspace folders a service needs at run time: itself and every
// workspace package reachable through production dependencies.
function closure(serviceDir) {
  const seen = new Set([serviceDir]);
  const queue = [serviceDir];
  while (queue.length > 0) {
    const pkg = readJson(join(queue.shift(), 'package.json'));
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const dir = workspaces.get(name);
      if (dir && !seen.has(dir)) {
        seen.add(dir);
        queue.push(dir);
      }
    }
  }
  return seen;
}

function copy(from, to) {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true });
}

for (const serviceDir of services) {
  const name = serviceDir.slice('services/'.length);
  const dest = join(out, name);
  const needed = closure(serviceDir);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });

  if (mode === 'deps') {
    // npm ci checks the lockfile against every workspace's manifest, so
    // all of them go in; the ones nothing links to come out afterwards.
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) {
      if (existsSync(file)) copy(file, join(dest, file));
    }
    for (const dir of workspaces.values()) {
      mkdirSync(join(dest, dir), { recursive: true });
      copy(join(dir, 'package.json'), join(dest, dir, 'package.json'));
    }
    if (existsSync('patches')) copy('patches', join(dest, 'patches'));
    console.log(`\n>> ${name}: npm ci --omit=dev --workspace ${serviceDir}`);
    const npm = spawnSync(
      'npm',
      [
        'ci',
        '--prefer-offline',
        '--omit=dev',
        '--workspace',
        serviceDir,
        '--no-audit',
        '--no-fund',
        '--loglevel=warn',
      ],
      // Lifecycle scripts run as in any install, including the root's own
      // (npm runs it for a --workspace install too). A dev-only tool such a
      // script calls (e.g. `postinstall: patch-package`) is not in this
      // production tree, so the full install's bin folder comes after it on
      // PATH: the production tree gets the same patches as the build tree.
      {
        cwd: dest,
        stdio: 'inherit',
        env: { ...process.env, PATH: `${resolve('node_modules/.bin')}:${process.env.PATH}` },
      },
    );
    if (npm.status !== 0) process.exit(npm.status ?? 1);
    for (const dir of workspaces.values()) {
      if (!needed.has(dir)) rmSync(join(dest, dir), { recursive: true, force: true });
    }
    for (const parent of new Set([...workspaces.values()].map((dir) => dir.split('/')[0]))) {
      const path = join(dest, parent);
      if (existsSync(path) && readdirSync(path).length === 0) rmSync(path, { recursive: true });
    }
    for (const file of ['package-lock.json', '.npmrc', 'patches']) {
      rmSync(join(dest, file), { recursive: true, force: true });
    }
    // Dangling links to workspace packages the service does not use, and
    // scope folders left empty by the filtered install.
    const tidy = spawnSync('sh', [
      '-c',
      'find "$1" -maxdepth 2 -xtype l -delete && find "$1" -mindepth 1 -maxdepth 1 -type d -empty -delete',
      'tidy',
      join(dest, 'node_modules'),
    ]);
    if (tidy.status !== 0) process.exit(tidy.status ?? 1);
  } else {
    for (const dir of needed) {
      if (!existsSync(join(dir, 'dist'))) {
        console.error(`${dir}/dist is missing: does its package.json have a "build" script?`);
        process.exit(1);
      }
      mkdirSync(join(dest, dir), { recursive: true });
      copy(join(dir, 'package.json'), join(dest, dir, 'package.json'));
      copy(join(dir, 'dist'), join(dest, dir, 'dist'));
    }
    for (const extra of readdirSync(serviceDir)) {
      if (extra === 'prisma' || /^prisma\.config\.[cm]?[jt]s$/.test(extra)) {
        copy(join(serviceDir, extra), join(dest, serviceDir, extra));
      }
    }
    // Source maps point at sources that are not in the image, and type
    // declarations are for compilers: neither is needed at run time.
    const strip = spawnSync('find', [dest, '(', '-name', '*.map', '-o', '-name', '*.d.ts', ')', '-delete']);
    if (strip.status !== 0) process.exit(strip.status ?? 1);
    console.log(`>> ${name}: ${[...needed].join(', ')}`);
  }
}
