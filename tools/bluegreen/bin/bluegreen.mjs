#!/usr/bin/env node
// `npx bluegreen`: runs dist/bluegreen.mjs, the CLI bundled into one file (see
// build.mjs for why). In the repository the bundle is (re)built on the first run
// after a source change; BLUEGREEN_FROM_SOURCE=1 runs the TypeScript through tsx.
import { pathToFileURL } from 'node:url';
import { build, bundlePath, hasSources, isStale } from './build.mjs';

if (hasSources() && process.env.BLUEGREEN_FROM_SOURCE === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
} else {
  if (hasSources() && isStale()) await build();
  await import(pathToFileURL(bundlePath).href);
}
