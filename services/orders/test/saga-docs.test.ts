import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withSagaDocs } from '../src/saga/docs.js';

/** A Markdown table's cells, however a formatter pads its columns. */
const cells = (markdown: string) => markdown.replace(/ *\| */g, '|').replace(/\|-{3,}/g, '|---');

describe("the saga's documentation", () => {
  it('in the README is what the table says (npm run saga:docs -w services/orders writes it)', () => {
    const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
    expect(cells(readme)).toBe(cells(withSagaDocs(readme)));
  });
});
