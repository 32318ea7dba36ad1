// Runs inside the image build (see the Dockerfile), with nothing but Node and
// npm: lays out, for every deployable workspace, exactly the files its final
// image needs, under <out>/<name>/ (<name> = the folder's last part, e.g.
// users, smoke), mirroring the checkout's layout so that the workspace links in
// node_modules keep pointing at the right place
// (node_modules/@shop/platform -> ../../packages/platform).
//
//   node assemble.mjs deps <out> [folders...]  in the tree of the full `npm ci` (patched by
//        the root's postinstall): per deployable, the packages that
//        `npm ls --all --omit=dev --workspace <folder>` names (exactly the set
//        `npm ci --omit=dev --workspace <folder>` would install from the same lockfile,
//        at the same paths), copied out of that tree; checks that patches/ applied; trims
//        what no production process loads.
//   node assemble.mjs app <out> [folders...]   in the built tree: per deployable, its
//        package.json, dist/ and prisma/ (plus prisma.config.*), and the package.json
//        and dist/ of every workspace package it depends on (transitively,
//        production deps only).
//   node assemble.mjs workspaces [folders...]  prints the workspace folders the deployables
//        need at run time (themselves and their workspace dependencies), one per line,
//        in the order of the root's "workspaces" (dependencies first, as
//        `npm run build --workspaces` builds them), so the image build compiles only those.
//
// folders: workspace folders or "dir/*" patterns; default "services/*". A
// pattern that matches no workspace is skipped (the Dockerfile's COPY of
// that target then fails loudly).
//
// What runs must be compiled into dist/ by the package's own `build` script
// (tsc, prisma generate, copying assets): nothing else of src/ is taken.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';

const mode = process.argv[2];
const [out, ...patterns] = mode === 'workspaces' ? ['', ...process.argv.slice(3)] : process.argv.slice(3);
if (!['deps', 'app', 'workspaces'].includes(mode) || (mode !== 'workspaces' && !out)) {
  console.error(
    'usage: node assemble.mjs deps|app <out> [workspace folder or dir/* ...]\n' +
      '       node assemble.mjs workspaces [workspace folder or dir/* ...]',
  );
  process.exit(2);
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const root = readJson('package.json');

const expand = (pattern) =>
  pattern.endsWith('/*')
    ? existsSync(pattern.slice(0, -2))
      ? readdirSync(pattern.slice(0, -2), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => join(pattern.slice(0, -2), d.name))
      : []
    : [pattern];

// Workspace folders from the root's "workspaces": literal paths and "dir/*".
const workspaces = new Map(); // package name -> folder
for (const pattern of root.workspaces ?? []) {
  for (const dir of expand(pattern)) {
    if (existsSync(join(dir, 'package.json'))) workspaces.set(readJson(join(dir, 'package.json')).name, dir);
  }
}
const workspaceDirs = new Set(workspaces.values());

const deployables = [
  ...new Set(
    (patterns.length > 0 ? patterns : ['services/*']).flatMap(expand).map((d) => d.replace(/\/+$/, '')),
  ),
]
  .filter((dir) => workspaceDirs.has(dir))
  .sort();
const byName = new Map();
for (const dir of deployables) {
  const name = basename(dir);
  if (byName.has(name)) {
    console.error(`two deployables are both called ${name}: ${byName.get(name)} and ${dir}`);
    process.exit(1);
  }
  byName.set(name, dir);
}

// The workspace folders a deployable needs at run time: itself and every
// workspace package reachable through production dependencies.
function closure(dir) {
  const seen = new Set([dir]);
  const queue = [dir];
  while (queue.length > 0) {
    const pkg = readJson(join(queue.shift(), 'package.json'));
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const found = workspaces.get(name);
      if (found && !seen.has(found)) {
        seen.add(found);
        queue.push(found);
      }
    }
  }
  return seen;
}

function copy(from, to) {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true });
}

function sh(script, ...args) {
  const result = spawnSync('sh', ['-c', script, 'sh', ...args], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

// patch-package exits 0 outside CI even when a patch fails to apply, so a
// broken patch would ship silently: every line a patch adds must be in the
// installed file. Patches of packages this deployable does not have are
// skipped (patch-package itself only warns about those).
function verifyPatches(dest) {
  if (!existsSync('patches')) return;
  for (const patch of readdirSync('patches').filter((f) => f.endsWith('.patch'))) {
    const text = readFileSync(join('patches', patch), 'utf8');
    let file;
    const added = new Map(); // installed file -> lines the patch adds
    for (const line of text.split('\n')) {
      if (line.startsWith('+++ b/')) {
        file = line.slice('+++ b/'.length);
        added.set(file, []);
      } else if (file && line.startsWith('+') && line.slice(1).trim() !== '') {
        added.get(file).push(line.slice(1).trim());
      }
    }
    let checked = 0;
    for (const [path, lines] of added) {
      const installed = join(dest, path);
      const packageDir = path.match(/^(node_modules\/(?:@[^/]+\/)?[^/]+)/)?.[1];
      if (packageDir && !existsSync(join(dest, packageDir))) continue;
      checked++;
      const content = existsSync(installed) ? readFileSync(installed, 'utf8') : '';
      const missing = lines.filter((line) => !content.includes(line));
      if (missing.length > 0) {
        console.error(`${patch} is not applied to ${installed} (${missing.length} added lines missing)`);
        process.exit(1);
      }
    }
    if (checked > 0) console.log(`   ${patch}: applied`);
  }
}

// What no production process loads, left out while copying (docs/prisma.md,
// "Sizes"; docs/images.md): Prisma's engines for other databases and the query
// engines that neither the Rust-free client nor the WASM migrate engine loads,
// the `prisma-client` copy the CLI carries for `generate`, TypeScript (an
// optional peer of prisma that npm installs), source maps and type
// declarations.
const prismaRuntimeKeep = /^(client\.m?js|index-browser\.m?js|query_compiler_bg\.postgresql\..*)$/;
function unused(path) {
  if (/\.(map|d\.ts|d\.mts|d\.cts)$/.test(path) && lstatSync(path).isFile()) return true;
  // The innermost package the path is in, and the path inside it.
  const m = path.match(/^(?:.*\/)?node_modules\/(@[^/]+\/[^/]+|[^@/][^/]*)(?:\/(.*))?$/);
  if (!m) return false;
  const [, pkg, rest = ''] = m;
  if (pkg === 'typescript') return true;
  if (pkg === '@prisma/client' && rest.startsWith('runtime/')) {
    return !prismaRuntimeKeep.test(rest.slice('runtime/'.length));
  }
  if (pkg === 'prisma') {
    return rest === 'prisma-client' || /^build\/(query_engine_bg|query_compiler_bg)\./.test(rest);
  }
  return false;
}

if (mode === 'workspaces') {
  const needed = new Set(deployables.flatMap((dir) => [...closure(dir)]));
  for (const dir of workspaces.values()) if (needed.has(dir)) console.log(dir);
  process.exit(0);
}

const megabytes = (dir) => spawnSync('du', ['-sm', dir], { encoding: 'utf8' }).stdout.split('\t')[0] ?? '?';

for (const dir of deployables) {
  const name = basename(dir);
  const dest = join(out, name);
  const needed = closure(dir);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });

  if (mode === 'deps') {
    const started = Date.now();
    // One full install, many production trees: `npm ci` reifies the
    // lockfile's layout whatever it is asked to omit, so the deployable's
    // production packages sit at the same paths in the full tree as in a
    // `npm ci --omit=dev --workspace` of its own (verified: the same 431
    // paths for users), with the same install scripts' output and the same
    // patches. Copying them out takes seconds; an install per deployable
    // took 2-4 minutes each on a busy 2-core machine.
    const ls = spawnSync(
      'npm',
      ['ls', '--parseable', '--all', '--omit=dev', '--workspace', dir, '--loglevel=error'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (ls.status !== 0) {
      process.stderr.write(ls.stderr);
      console.error(
        `npm ls --omit=dev --workspace ${dir} failed: the installed tree does not match the lockfile`,
      );
      process.exit(1);
    }
    const here = process.cwd();
    const packages = [
      ...new Set(
        ls.stdout
          .split('\n')
          .filter(Boolean)
          .map((path) => relative(here, path))
          .filter((path) => path.split('/').includes('node_modules')),
      ),
    ].sort();
    copy('package.json', join(dest, 'package.json'));
    for (const ws of needed) {
      mkdirSync(join(dest, ws), { recursive: true });
      copy(join(ws, 'package.json'), join(dest, ws, 'package.json'));
    }
    let count = 0;
    for (const path of packages) {
      const target = join(dest, path);
      mkdirSync(dirname(target), { recursive: true });
      if (lstatSync(path).isSymbolicLink()) {
        // A workspace link: kept only if the deployable needs that
        // workspace at run time (not, e.g., a devDependency on the testkit).
        const link = readlinkSync(path);
        if (!needed.has(relative(here, resolve(dirname(path), link)))) continue;
        symlinkSync(link, target);
      } else {
        // The package's own files; its nested node_modules/ holds packages
        // that npm ls names separately when this deployable needs them.
        const nested = join(path, 'node_modules');
        if (unused(path)) continue;
        cpSync(path, target, {
          recursive: true,
          verbatimSymlinks: true,
          filter: (src) => src !== nested && !unused(src),
        });
      }
      count++;
    }
    verifyPatches(dest);
    console.log(
      `>> ${name}: ${count} packages, node_modules ${megabytes(dest)} MB, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } else {
    for (const ws of needed) {
      if (!existsSync(join(ws, 'dist'))) {
        console.error(`${ws}/dist is missing: does its package.json have a "build" script?`);
        process.exit(1);
      }
      mkdirSync(join(dest, ws), { recursive: true });
      copy(join(ws, 'package.json'), join(dest, ws, 'package.json'));
      copy(join(ws, 'dist'), join(dest, ws, 'dist'));
    }
    for (const extra of readdirSync(dir)) {
      if (extra === 'prisma' || /^prisma\.config\.[cm]?[jt]s$/.test(extra)) {
        copy(join(dir, extra), join(dest, dir, extra));
      }
    }
    // Source maps point at sources that are not in the image, and type
    // declarations are for compilers: neither is needed at run time.
    sh(`find "$1" \\( -name '*.map' -o -name '*.d.ts' \\) -delete`, dest);
    console.log(`>> ${name}: ${[...needed].join(', ')}`);
  }
}
if (deployables.length === 0) console.log('>> nothing to assemble');
