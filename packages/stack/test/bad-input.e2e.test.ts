// Hostile input against the whole system: property-based (fast-check) malformed,
// oversized, wrongly typed and hostile requests at every public endpoint through
// the gateway, and malformed messages at every Kafka consumer. Never a 5xx,
// never a crash, never a partial write; each rejection is problem+json with a
// message, each bad message lands on the dead-letter topic and the consumers
// keep going.
import { randomUUID } from 'node:crypto';
import { messageTypes, parseMessage, topics } from '@shop/contracts';
import { configFromEnv, ShopClient } from '@shop/smoke';
import { infra } from '@shop/testkit';
import fc from 'fast-check';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DatabaseService,
  DEFAULT_ADMIN_EMAIL,
  DEFAULT_ADMIN_PASSWORD,
  databaseServices,
  readDeadLetters,
  serviceNames,
} from '../src/index.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let system: TestStack;
let admin: ShopClient;
let customer: ShopClient;
let productId: string;
const RUNS = { numRuns: 40 };

beforeAll(async () => {
  system = await startTestStack('bad-input');
  const config = {
    ...configFromEnv({}),
    baseUrl: system.stack.url('gateway'),
    adminEmail: DEFAULT_ADMIN_EMAIL,
    adminPassword: DEFAULT_ADMIN_PASSWORD,
  };
  admin = await ShopClient.admin(config);
  customer = await ShopClient.signUp(config);
  productId = (await admin.createProduct(50, 1200)).id;
});
afterAll(async () => {
  await system?.stop();
});

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function send(
  method: string,
  path: string,
  options: {
    body?: string;
    contentType?: string;
    token?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(system.stack.url('gateway') + path, {
    method,
    headers,
    body: options.body,
    signal: AbortSignal.timeout(30_000),
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    text: await response.text(),
  };
}

const tokenOf = (client: ShopClient) => (client as unknown as { token: string }).token;

/** A rejection as clients rely on: the status asked for, problem+json, a message that says something. */
function expectProblem(answer: Answer, allowed: readonly number[], what: string): void {
  const context = `${what} → ${answer.status} ${answer.text.slice(0, 300)}`;
  expect(answer.status, context).toBeLessThan(500);
  expect(allowed, context).toContain(answer.status);
  expect(answer.contentType, context).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.text) as Record<string, unknown>;
  expect(problem.status, context).toBe(answer.status);
  expect(typeof problem.type, context).toBe('string');
  expect(typeof problem.title, context).toBe('string');
  expect(typeof problem.detail === 'string' && problem.detail.length >= 8, context).toBe(true);
}

/** Every row of every table, and the stock figures: what a partial write would change. */
async function footprint(): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  for (const service of databaseServices as readonly DatabaseService[]) {
    const client = new pg.Client({ connectionString: system.databases[service].url });
    await client.connect();
    try {
      const tables = await client.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'",
      );
      for (const { name } of tables.rows) {
        // Failed sign-ins are counted on purpose (per-account throttling): not a partial write.
        if (service === 'users' && name === 'login_throttles') continue;
        const [row] = (await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${name}"`)).rows;
        result[`${service}.${name}`] = Number(row?.n);
      }
      if (service === 'inventory') {
        result['inventory.stock'] = (
          await client.query('SELECT id, sku, name, price_cents, on_hand, reserved FROM products ORDER BY id')
        ).rows;
      }
    } finally {
      await client.end();
    }
  }
  return result;
}

/** Asserts nothing was written while `body` ran (after events from before it settled). */
async function withoutWrites(body: () => Promise<void>): Promise<void> {
  let before = await footprint();
  // Earlier work may still be landing (notifications of a sign-up): wait until it is still.
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const again = await footprint();
    if (JSON.stringify(again) === JSON.stringify(before)) break;
    before = again;
  }
  await body();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(await footprint()).toEqual(before);
}

// --- generators -------------------------------------------------------------

const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);
/** A value of any JSON type but `type`: a number field must not get a number, which may be a valid one. */
const notOfType = (type: string) => wrongType.filter((value) => typeof value !== type);
const hostileString = fc.oneof(
  fc.string({ minLength: 5000, maxLength: 20_000 }),
  fc.constantFrom(
    "'; DROP TABLE users; --",
    '<script>alert(1)</script>',
    '\u0000\u0000',
    '../../../../etc/passwd',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Log4Shell-style payload, meant literally
    '${jndi:ldap://127.0.0.1/a}',
    '{{7*7}}',
    '\ud800',
  ),
);
const notAnObject = fc.oneof(
  fc.integer(),
  fc.string(),
  fc.constant(null),
  fc.array(fc.anything(), { maxLength: 3 }),
);

/** A valid body broken in one way: a field missing, of the wrong type, or hostile where it must be short. */
function broken<T extends Record<string, unknown>>(
  valid: fc.Arbitrary<T>,
  invalidValues: { [K in keyof T]?: fc.Arbitrary<unknown> },
): fc.Arbitrary<unknown> {
  const keys = Object.keys(invalidValues) as (keyof T & string)[];
  return fc.oneof(
    notAnObject,
    fc.tuple(valid, fc.constantFrom(...keys)).map(([body, key]) => {
      const { [key]: _dropped, ...rest } = body;
      return rest;
    }),
    fc
      .tuple(valid, fc.constantFrom(...keys))
      .chain(([body, key]) => notOfType(typeof body[key]).map((value) => ({ ...body, [key]: value }))),
    fc
      .tuple(valid, fc.constantFrom(...keys))
      .chain(([body, key]) => invalidValues[key]!.map((value) => ({ ...body, [key]: value }))),
  );
}

/** Bytes that are not JSON at all. */
const notJson = fc.string({ minLength: 1, maxLength: 200 }).filter((text) => {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
});

const registration = fc.record({
  email: fc.emailAddress(),
  password: fc.string({ minLength: 12, maxLength: 40 }),
  name: fc.string({ minLength: 1, maxLength: 40 }).filter((name) => name.trim().length > 0),
});
/** Longer than `max` even after the service trims it (leading and trailing blanks do not count). */
const tooLong = (max: number) =>
  fc.string({ minLength: max + 1, maxLength: 5 * max }).filter((text) => text.trim().length > max);
const badRegistration = broken(registration, {
  email: fc.oneof(
    hostileString,
    fc.string({ maxLength: 30 }).filter((s) => !s.includes('@')),
  ),
  password: fc.oneof(fc.string({ maxLength: 3 }), fc.string({ minLength: 300, maxLength: 2000 })),
  name: fc.oneof(fc.constant(''), tooLong(100)),
});

const newProduct = fc.record({
  sku: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim().length > 0),
  name: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim().length > 0),
  description: fc.string({ maxLength: 40 }),
  priceCents: fc.integer({ min: 1, max: 100_000 }),
  currency: fc.constant('EUR'),
  initialStock: fc.integer({ min: 0, max: 1000 }),
});
const badNumber = fc.oneof(
  fc.integer({ max: 0 }),
  fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
  fc.integer({ min: 100_000_001 }),
  fc.constant(1e300),
);
const badProduct = broken(newProduct, {
  sku: fc.oneof(fc.constant(''), fc.constant('   '), tooLong(64)),
  name: fc.oneof(fc.constant(''), tooLong(200)),
  priceCents: badNumber,
  currency: fc.oneof(fc.constant('eur'), fc.constant('EURO'), fc.string({ maxLength: 2 })),
  initialStock: fc.oneof(
    fc.integer({ max: -1 }),
    fc.double({ noInteger: true, noNaN: true }),
    fc.constant(1e12),
  ),
});

const order = fc.record({
  items: fc.constant([{ productId: '00000000-0000-4000-8000-000000000000', quantity: 1 }]),
  payment: fc.record({ token: fc.constantFrom('tok_visa', 'tok_decline') }),
});
const badItems = fc.oneof(
  fc.constant([]),
  fc.array(fc.record({ productId: fc.uuid(), quantity: fc.integer({ min: 1, max: 3 }) }), {
    minLength: 101,
    maxLength: 150,
  }),
  fc.array(
    fc.record({
      productId: fc.oneof(fc.string({ maxLength: 40 }), wrongType),
      quantity: fc.integer({ min: 1, max: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  fc.array(fc.record({ productId: fc.uuid(), quantity: fc.oneof(badNumber, notOfType('number')) }), {
    minLength: 1,
    maxLength: 3,
  }),
);
const badOrder = broken(order, {
  items: badItems,
  payment: fc.oneof(wrongType, fc.record({ token: fc.oneof(wrongType, fc.constant(''), hostileString) })),
});

/** Query values a client could send for ?limit=&cursor= and the like. */
const queryValue = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom('-1', '0', '101', '1e9', 'NaN', 'Infinity', '', '%00', '[]'),
  fc.string({ minLength: 300, maxLength: 3000 }),
);
const badQuery = fc
  .record({ limit: queryValue, cursor: queryValue }, { requiredKeys: [] })
  .map((q) => new URLSearchParams(q as Record<string, string>).toString());
/** A path segment that is not an id this API handed out (dot segments would leave the route). */
const badId = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 60 }),
    fc.string({ minLength: 300, maxLength: 3000 }),
    fc.uuid(),
  )
  .filter((s) => s !== '.' && s !== '..')
  .map(encodeURIComponent);

// --- the public endpoints -----------------------------------------------------

describe('the public API refuses bad input cleanly', () => {
  it('POST /auth/register and /auth/login: malformed, wrongly typed, oversized bodies', async () => {
    await withoutWrites(async () => {
      await fc.assert(
        fc.asyncProperty(badRegistration, async (body) => {
          expectProblem(
            await send('POST', '/api/v1/auth/register', { body: JSON.stringify(body) }),
            [400, 413],
            `register ${JSON.stringify(body).slice(0, 200)}`,
          );
        }),
        RUNS,
      );
      await fc.assert(
        fc.asyncProperty(badRegistration, async (body) => {
          expectProblem(
            await send('POST', '/api/v1/auth/login', { body: JSON.stringify(body) }),
            // 429: an email guessed often enough is locked (per-account throttling).
            [400, 401, 413, 429],
            `login ${JSON.stringify(body).slice(0, 200)}`,
          );
        }),
        // Always tried: a NUL once passed validation and failed in Postgres as a 500.
        { ...RUNS, examples: [[{ email: '\u0000\u0000', password: 'a-long-enough-password', name: 'N' }]] },
      );
    });
  });

  it('every body-taking endpoint: not JSON, the wrong content type, too large, prototype pollution', async () => {
    const targets: [string, string, string | null][] = [
      ['POST', '/api/v1/auth/register', null],
      ['POST', '/api/v1/auth/login', null],
      ['POST', '/api/v1/products', tokenOf(admin)],
      ['PATCH', `/api/v1/products/${productId}`, tokenOf(admin)],
      ['POST', '/api/v1/orders', tokenOf(customer)],
    ];
    const hostileBody = fc.oneof(
      notJson.map((body) => ({ body, contentType: 'application/json', allowed: [400] })),
      fc.constantFrom(
        { body: '', contentType: 'application/json', allowed: [400] },
        { body: '{"a":'.repeat(5000), contentType: 'application/json', allowed: [400] },
        {
          body: `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
          contentType: 'application/json',
          allowed: [400, 413],
        },
        { body: '{"__proto__":{"role":"admin"}}', contentType: 'application/json', allowed: [400] },
        {
          body: '{"constructor":{"prototype":{"role":"admin"}}}',
          contentType: 'application/json',
          allowed: [400],
        },
        { body: JSON.stringify({ x: 'y'.repeat(70_000) }), contentType: 'application/json', allowed: [413] },
      ),
      fc
        .tuple(
          fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/xml',
          ),
          fc.string({ maxLength: 50 }),
        )
        .map(([contentType, body]) => ({ body, contentType, allowed: [415] })),
    );
    await withoutWrites(async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...targets), hostileBody, async ([method, path, token], hostile) => {
          expectProblem(
            await send(method, path, {
              body: hostile.body,
              contentType: hostile.contentType,
              token,
              headers: { 'idempotency-key': randomUUID() },
            }),
            hostile.allowed,
            `${method} ${path} ${hostile.contentType} ${hostile.body.slice(0, 80)}`,
          );
        }),
        { numRuns: 80 },
      );
    });
  });

  it('POST and PATCH /products (admin): invalid products change nothing', async () => {
    await withoutWrites(async () => {
      await fc.assert(
        fc.asyncProperty(badProduct, async (body) => {
          expectProblem(
            await send('POST', '/api/v1/products', { body: JSON.stringify(body), token: tokenOf(admin) }),
            [400, 413],
            `create ${JSON.stringify(body).slice(0, 200)}`,
          );
        }),
        RUNS,
      );
      const badChange = fc.oneof(
        notAnObject,
        fc.constant({}),
        fc.record({ priceCents: badNumber }),
        fc.record({ stock: fc.oneof(fc.integer({ max: -1 }), notOfType('number')) }),
        fc.record({
          name: fc.oneof(fc.constant(''), tooLong(200), wrongType),
        }),
        fc.record({ currency: fc.string({ maxLength: 8 }).filter((s) => !/^[A-Z]{3}$/.test(s)) }),
      );
      await fc.assert(
        fc.asyncProperty(badChange, async (body) => {
          expectProblem(
            await send('PATCH', `/api/v1/products/${productId}`, {
              body: JSON.stringify(body),
              token: tokenOf(admin),
            }),
            [400],
            `change ${JSON.stringify(body).slice(0, 200)}`,
          );
        }),
        RUNS,
      );
      await fc.assert(
        fc.asyncProperty(badId, async (id) => {
          expectProblem(
            await send('PATCH', `/api/v1/products/${id}`, {
              body: JSON.stringify({ name: 'renamed' }),
              token: tokenOf(admin),
            }),
            [400, 404],
            `change product ${id.slice(0, 80)}`,
          );
        }),
        RUNS,
      );
      // A customer may not write the catalogue at all, even with a valid product.
      const valid = {
        sku: `NOPE-${randomUUID()}`,
        name: 'Nope',
        priceCents: 100,
        currency: 'EUR',
        initialStock: 5,
      };
      expectProblem(
        await send('POST', '/api/v1/products', { body: JSON.stringify(valid), token: tokenOf(customer) }),
        [403],
        'create as a customer',
      );
    });
  });

  it('POST /orders: invalid baskets, payments and idempotency keys leave no order and no reservation', async () => {
    const badKey = fc.oneof(fc.constant(''), fc.string({ minLength: 300, maxLength: 2000 }));
    await withoutWrites(async () => {
      await fc.assert(
        fc.asyncProperty(badOrder, async (body) => {
          expectProblem(
            await send('POST', '/api/v1/orders', {
              body: JSON.stringify(body),
              token: tokenOf(customer),
              headers: { 'idempotency-key': randomUUID() },
            }),
            [400, 413, 422],
            `order ${JSON.stringify(body).slice(0, 200)}`,
          );
        }),
        RUNS,
      );
      const valid = JSON.stringify({ items: [{ productId, quantity: 1 }], payment: { token: 'tok_visa' } });
      expectProblem(
        await send('POST', '/api/v1/orders', { body: valid, token: tokenOf(customer) }),
        [400],
        'an order without an Idempotency-Key',
      );
      await fc.assert(
        fc.asyncProperty(badKey, async (key) => {
          expectProblem(
            await send('POST', '/api/v1/orders', {
              body: valid,
              token: tokenOf(customer),
              headers: { 'idempotency-key': key },
            }),
            [400],
            `an order with Idempotency-Key ${JSON.stringify(key.slice(0, 40))}`,
          );
        }),
        { numRuns: 10 },
      );
      // More than there is in stock: refused or accepted-then-cancelled, never oversold; here it must not
      // even reserve, since the quantity is beyond any stock the schema allows.
      expectProblem(
        await send('POST', '/api/v1/orders', {
          body: JSON.stringify({ items: [{ productId, quantity: 1e9 }], payment: { token: 'tok_visa' } }),
          token: tokenOf(customer),
          headers: { 'idempotency-key': randomUUID() },
        }),
        [400, 422],
        'an order for a billion',
      );
    });
  });

  it('GET endpoints: hostile ids, queries and tokens', async () => {
    await withoutWrites(async () => {
      const lists: [string, string | null][] = [
        ['/api/v1/products', null],
        ['/api/v1/orders', tokenOf(customer)],
        ['/api/v1/notifications', tokenOf(customer)],
      ];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...lists), badQuery, async ([path, token], query) => {
          const answer = await send('GET', `${path}?${query}`, { token });
          if (answer.status === 200) {
            expect(answer.contentType).toMatch(/^application\/json/);
            return;
          }
          expectProblem(answer, [400, 431], `GET ${path}?${query.slice(0, 200)}`);
        }),
        { numRuns: 60 },
      );
      const items: [string, string | null][] = [
        ['/api/v1/products/', null],
        ['/api/v1/orders/', tokenOf(customer)],
      ];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...items), badId, async ([path, token], id) => {
          expectProblem(await send('GET', path + id, { token }), [400, 404], `GET ${path}${id.slice(0, 80)}`);
        }),
        RUNS,
      );
      const garbageToken = fc.oneof(
        fc.string({ minLength: 1, maxLength: 100 }).filter((s) => /^[\x21-\x7e]+$/.test(s)),
        fc.constant('eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.'),
        fc.string({ minLength: 2000, maxLength: 4000 }).map((s) => Buffer.from(s).toString('base64url')),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/api/v1/orders', '/api/v1/notifications', '/api/v1/users/me'),
          garbageToken,
          async (path, token) => {
            expectProblem(await send('GET', path, { token }), [401, 431], `GET ${path} with a forged token`);
          },
        ),
        RUNS,
      );
    });
  });

  it("POST /auth/login: guessing one account's password is throttled per account, whatever the IP limit", async () => {
    // The test stack raises the gateway's per-IP limit far above these attempts: what stops them is users.
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 11, max: 16 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        async (attempts, guess) => {
          const email = `victim-${randomUUID()}@example.com`;
          const password = 'the right password';
          const registered = await send('POST', '/api/v1/auth/register', {
            body: JSON.stringify({ email, password, name: 'Victim' }),
          });
          expect(registered.status).toBe(201);
          const wrong = JSON.stringify({ email, password: `${guess}-not-it` });
          const answers: Answer[] = [];
          for (let i = 0; i < attempts; i++)
            answers.push(await send('POST', '/api/v1/auth/login', { body: wrong }));
          const statuses = answers.map((answer) => answer.status);
          expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
          expect(statuses.slice(10)).toEqual(Array(attempts - 10).fill(429));
          for (const answer of answers.slice(10)) expectProblem(answer, [429], 'a locked account');
          const locked = await fetch(`${system.stack.url('gateway')}/api/v1/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: wrong,
          });
          expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
          await locked.text();
          // The right password during the lock is refused exactly like a wrong one.
          const right = await send('POST', '/api/v1/auth/login', {
            body: JSON.stringify({ email, password }),
          });
          const strip = (text: string) => ({ ...JSON.parse(text), requestId: undefined });
          expect(right.status).toBe(429);
          expect(strip(right.text)).toEqual(strip(answers.at(-1)!.text));
        },
      ),
      { numRuns: 3 },
    );
  });

  it('no service crashed or stopped being ready', async () => {
    for (const name of serviceNames) {
      expect(system.stack.service(name).running, `${name} is running`).toBe(true);
      const ready = await fetch(`${system.stack.url(name)}/health/ready`);
      expect(ready.status, `${name} is ready`).toBe(200);
    }
  });
});

// --- the Kafka consumers -----------------------------------------------------

/** Who consumes each topic (the gateway's deny-list feed reads users.events too, without a dead-letter topic). */
const consumerGroups: Record<string, string[]> = {
  'inventory.commands': ['inventory'],
  'payments.commands': ['payments'],
  'inventory.replies': ['orders'],
  'payments.replies': ['orders'],
  'shipping.commands': ['shipping'],
  'shipping.replies': ['orders'],
  'users.events': ['orders', 'notifications'],
  'orders.events': ['notifications'],
};

const envelope = (overrides: Record<string, unknown>) => ({
  id: randomUUID(),
  type: 'order.created',
  version: 1,
  source: 'bad-input-test',
  time: new Date().toISOString(),
  key: randomUUID(),
  traceparent: null,
  data: {},
  ...overrides,
});

/** Message values every consumer must refuse (checked against the contracts' own parser). */
const badMessage = fc
  .oneof(
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
    fc.json().map((json) => Buffer.from(json)),
    fc
      .oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant(2))
      .filter((v) => v !== 1)
      .map((version) => Buffer.from(JSON.stringify(envelope({ version })))),
    fc
      .string({ minLength: 1, maxLength: 40 })
      .filter((type) => !(messageTypes as readonly string[]).includes(type))
      .map((type) => Buffer.from(JSON.stringify(envelope({ type })))),
    fc
      .tuple(fc.constantFrom(...messageTypes), fc.anything())
      .map(([type, data]) => Buffer.from(JSON.stringify(envelope({ type, data })))),
    fc.constantFrom('id', 'time', 'key', 'source').map((field) => {
      const { [field]: _dropped, ...rest } = envelope({});
      return Buffer.from(JSON.stringify(rest));
    }),
  )
  .filter((value) => !parseMessage(value).ok);

describe('the Kafka consumers dead-letter bad messages and keep going', () => {
  it('every malformed envelope, unknown type and wrong version lands on the dead-letter topic, once per consumer group', async () => {
    const samples = fc.sample(badMessage, { numRuns: 60, seed: 42 });
    const kafka = new Kafka({
      brokers: infra().kafkaBrokers,
      clientId: 'bad-input',
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    const sent: { topic: string; key: string }[] = [];
    try {
      for (const [i, value] of samples.entries()) {
        const topic = Object.keys(topics)[i % Object.keys(topics).length]!;
        const key = `bad-${i}-${randomUUID()}`;
        await producer.send({ topic: system.prefix + topic, messages: [{ key, value }] });
        sent.push({ topic, key });
      }
      // A message with no value at all (a tombstone) to every topic.
      for (const topic of Object.keys(topics)) {
        const key = `bad-null-${randomUUID()}`;
        await producer.send({ topic: system.prefix + topic, messages: [{ key, value: null }] });
        sent.push({ topic, key });
      }
    } finally {
      await producer.disconnect();
    }
    const expected = sent.flatMap(({ topic, key }) =>
      consumerGroups[topic]!.map((group) => `${system.prefix}${topic} ${group} ${key}`),
    );

    let letters: Awaited<ReturnType<typeof readDeadLetters>> = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      letters = await readDeadLetters(infra().kafkaBrokers, `${system.prefix}dead-letters`);
      if (letters.length >= expected.length) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const got = letters.map((l) => `${l.topic} ${l.group} ${l.key}`).sort();
    expect(got).toEqual(expected.sort());
    // Each says why, and nothing was retried: a malformed message never gets better.
    for (const letter of letters) {
      expect(letter.error).toMatch(
        /not JSON|no value|invalid|unknown message type|unsupported envelope version/,
      );
      expect(letter.attempts).toBe('0');
    }

    // The consumers went on: a new customer's order still goes through the whole saga and is notified.
    const config = {
      ...configFromEnv({}),
      baseUrl: system.stack.url('gateway'),
      adminEmail: DEFAULT_ADMIN_EMAIL,
      adminPassword: DEFAULT_ADMIN_PASSWORD,
    };
    const buyer = await ShopClient.signUp(config);
    const placed = await buyer.placeOrder([{ productId, quantity: 1 }], 'tok_visa');
    expect(placed.status).toBe(202);
    expect((await buyer.finalOrder(placed.body.id)).status).toBe('CONFIRMED');
    await buyer.eventually('the order.confirmed notification', async () => {
      const list = await buyer.call<{ items: { type: string }[] }>('GET', '/api/v1/notifications');
      return list.body.items.some((n) => n.type === 'order.confirmed') ? true : undefined;
    });
    for (const name of serviceNames)
      expect(system.stack.service(name).running, `${name} is running`).toBe(true);
  });
});
