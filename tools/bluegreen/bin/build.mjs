// Builds dist/bluegreen.mjs: the CLI and its dependencies in one ES module file.
// Why a bundle: @kubernetes/client-node is ~1000 modules, and loading them one by
// one (plus TypeScript through tsx) costs seconds of CPU at every start; the
// bundle starts in a few hundred milliseconds. esbuild comes with tsx.
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url);
export const bundlePath = fileURLToPath(new URL('dist/bluegreen.mjs', root));
const sourceDir = fileURLToPath(new URL('src/', root));
const packageJson = fileURLToPath(new URL('package.json', root));

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : statSync(file).mtimeMs);
  }
  return newest;
}

export function hasSources() {
  return existsSync(sourceDir);
}

export function isStale() {
  if (!existsSync(bundlePath)) return true;
  const built = statSync(bundlePath).mtimeMs;
  return built < Math.max(newestMtime(sourceDir), statSync(packageJson).mtimeMs);
}

export async function build() {
  const esbuild = await import('esbuild');
  // Written beside and renamed: concurrent starts never run a half-written file.
  const temporary = `${bundlePath}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [fileURLToPath(new URL('src/cli.ts', root))],
    outfile: temporary,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: 'linked',
    logLevel: 'error',
    // Some dependencies are CommonJS and call require(): give them one.
    banner: {
      js: "import { createRequire as __bgCreateRequire } from 'node:module'; const require = __bgCreateRequire(import.meta.url);",
    },
  });
  renameSync(temporary, bundlePath);
  return bundlePath;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build();
  process.stdout.write(`built ${bundlePath}\n`);
}
