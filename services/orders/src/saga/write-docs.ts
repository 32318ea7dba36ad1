// `npm run saga:docs`: writes the saga's table and diagram into the README (docs.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSagaDocs } from './docs.js';

const readme = join(import.meta.dirname, '../../README.md');
writeFileSync(readme, withSagaDocs(readFileSync(readme, 'utf8')));
process.stdout.write(`wrote the saga's table and diagram into ${readme}\n`);
