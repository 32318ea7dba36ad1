// The README's customer journey, run as it is written (scripts/readme-walkthrough.sh,
// with only the commands `make dev` leaves on a fresh Debian) against a whole stack.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@shop/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.js';

let system: TestStack;

/** The JSON values written one after another in `text`. */
function jsonSequence(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{' || char === '[') {
      if (depth++ === 0) start = i;
    } else if ((char === '}' || char === ']') && --depth === 0) {
      values.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return values;
}

beforeAll(async () => {
  system = await startTestStack('readme', { logLevel: 'warn' });
});
afterAll(async () => {
  await system?.stop();
});

it("runs the README's walkthrough: register, sign in, a product, an order, the order, the notifications", async () => {
  const { stdout } = await promisify(execFile)(join(repoRoot, 'scripts/readme-walkthrough.sh'), [
    system.stack.url('gateway'),
  ]);
  // register, the order, the notifications: one JSON document each, back to back (curl adds no newline).
  const documents = jsonSequence(stdout);
  expect(documents).toHaveLength(3);
  const [registered, order, notifications] = documents as Record<string, unknown>[] as [
    { id: string },
    { items: unknown[] },
    unknown,
  ];
  expect(registered).toMatchObject({ email: 'ada@example.com', name: 'Ada', role: 'customer' });
  expect(order).toMatchObject({
    status: expect.stringMatching(/^(PENDING|CONFIRMED)$/),
    userId: registered.id,
  });
  expect(order.items).toHaveLength(1);
  expect(notifications).toMatchObject({ items: expect.any(Array) });
}, 120_000);
