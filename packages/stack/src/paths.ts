import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this package lives in. */
export const repoRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'Makefile'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (no Makefile above this package)');
    dir = parent;
  }
  return dir;
})();

export const runDir = join(repoRoot, '.run');
