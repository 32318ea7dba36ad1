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

it("runs the README's walkthrough: register, sign in, a product, an order, its outcome, its events, the notifications, a v2 order", async () => {
  const { stdout } = await promisify(execFile)(join(repoRoot, 'scripts/readme-walkthrough.sh'), [
    system.stack.url('gateway'),
  ]);
  // Back to back (curl adds no newline): the registration, the order once final, the order
  // again as each Server-Sent Event's data, the notifications, then the v2 order.
  const documents = jsonSequence(stdout) as Record<string, unknown>[];
  expect(documents.length).toBeGreaterThanOrEqual(4);
  const registered = documents[0]!;
  const order = documents[1]!;
  const events = documents.slice(2, -2);
  const notifications = documents.at(-2)!;
  const v2 = documents.at(-1)!;
  expect(registered).toMatchObject({ email: 'ada@example.com', name: 'Ada', role: 'customer' });
  expect(order).toMatchObject({ status: 'CONFIRMED', userId: registered.id });
  expect(order.items).toHaveLength(1);
  expect(events.at(-1)).toMatchObject({ id: order.id, status: 'CONFIRMED' });
  expect(stdout).toContain('event: order');
  expect(notifications).toMatchObject({ items: expect.any(Array) });
  expect(v2).toMatchObject({ userId: registered.id, shippingAddress: { city: 'Paris', country: 'FR' } });
}, 120_000);
