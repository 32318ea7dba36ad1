// The OpenAPI documents against what the routes answer: every operation of
// every service (asked directly, as the gateway would) and of the gateway's
// aggregate is sent the requests each kind of shared machinery refuses (bad
// parameters, bodies of the wrong type or size, oversized headers, another
// user's role, no token, undeclared methods), and each answer's status must be
// one the operation declares, as problem+json of the Problem schema. Routes
// are found from the documents, so a route added later is walked too.
import { randomUUID } from 'node:crypto';
import { type ActingUser, problemDocument, ServiceTokens } from '@shop/platform';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, databaseServices } from '../src/index.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are free-form JSON.
type Json = any;

// Every service of ours that serves an API owns a database (packages/contracts/src/system.ts).
const SERVICES = databaseServices;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'trace', 'query'];

let system: TestStack;
let admin: ActingUser;
let customer: ActingUser;
let adminToken: string;
let customerToken: string;
let serviceTokens: ServiceTokens;

async function call(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
) {
  const response = await request(`${base}${path}`, {
    method: method.toUpperCase(),
    headers: options.headers ?? {},
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

/** A customer of its own, for requests that delete the account that sends them. */
async function throwaway() {
  const email = `contract-${randomUUID()}@example.com`;
  await call(system.stack.url('gateway'), 'post', '/api/v1/auth/register', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'contract-password', name: 'Contract' }),
  });
  return signIn(email, 'contract-password');
}

const deletesCaller = (op: { method: string; path: string }) =>
  op.method === 'delete' && op.path === '/api/v1/users/me';

async function signIn(email: string, password: string) {
  const gateway = system.stack.url('gateway');
  const login = await call(gateway, 'post', '/api/v1/auth/login', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const token = JSON.parse(login.text).accessToken as string;
  const me = await call(gateway, 'get', '/api/v1/users/me', {
    headers: { authorization: `Bearer ${token}` },
  });
  const user = JSON.parse(me.text) as { id: string; role: ActingUser['role'] };
  return { token, user: { id: user.id, role: user.role } };
}

beforeAll(async () => {
  system = await startTestStack('contract', { logLevel: 'warn' });
  serviceTokens = new ServiceTokens('gateway', [system.stack.options.secrets.serviceTokenSecrets]);
  const signedInAdmin = await signIn(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD);
  admin = signedInAdmin.user;
  adminToken = signedInAdmin.token;
  const signedInCustomer = await throwaway();
  customer = signedInCustomer.user;
  customerToken = signedInCustomer.token;
});
afterAll(async () => {
  await system?.stop();
});

interface Operation {
  method: string;
  path: string;
  operation: Json;
  allowed: string[];
}

function operationsOf(document: Json): Operation[] {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) => {
    const declared = Object.keys(item).filter((key) => METHODS.includes(key));
    const allowed = [...new Set([...declared, ...(declared.includes('get') ? ['head'] : [])])]
      .map((method) => method.toUpperCase())
      .sort();
    return declared.map((method) => ({ method, path, operation: item[method], allowed }));
  });
}

/** The path with every parameter filled: with a fresh id, or the value given. */
function concrete(path: string, value: string = randomUUID()): string {
  return path.replace(/\{[^}]+\}/g, value);
}

function expectAnswered(
  op: Operation,
  answer: { status: number; headers: Json; text: string },
  what: string,
): void {
  const label = `${op.method.toUpperCase()} ${op.path}, ${what}: ${answer.status} ${answer.text.slice(0, 300)}`;
  expect(Object.keys(op.operation.responses), label).toContain(String(answer.status));
  if (answer.status < 400) return;
  expect(String(answer.headers['content-type']), label).toMatch(/^application\/problem\+json/);
  const problem = problemDocument.safeParse(JSON.parse(answer.text));
  expect(problem.success, `${label}: ${problem.error?.message}`).toBe(true);
  expect(problem.data?.status, label).toBe(answer.status);
  const declared = op.operation.responses[String(answer.status)];
  for (const [name, header] of Object.entries((declared.headers ?? {}) as Record<string, Json>)) {
    if (header.required) expect(answer.headers[name.toLowerCase()], `${label}: ${name}`).toBeDefined();
  }
}

/** Whether a string schema (and those it is made of) refuses a value holding U+0000. */
function refusesNul(schema: Json): boolean {
  if (schema.enum || schema.const !== undefined) return true;
  const patterns = [schema.pattern, ...(schema.allOf ?? []).map((part: Json) => part.pattern)].filter(
    Boolean,
  );
  return patterns.some((pattern: string) => !new RegExp(pattern, 'u').test('a\u0000b'));
}

/** Every string field of a request schema, with its path. */
function stringFields(schema: Json, path: string): { path: string; schema: Json }[] {
  if (!schema || typeof schema !== 'object') return [];
  const own = schema.type === 'string' ? [{ path, schema }] : [];
  const nested = [
    ...Object.entries((schema.properties ?? {}) as Record<string, Json>).flatMap(([name, value]) =>
      stringFields(value, `${path}.${name}`),
    ),
    ...(schema.items ? stringFields(schema.items, `${path}[]`) : []),
    ...['anyOf', 'oneOf'].flatMap((key) =>
      ((schema[key] ?? []) as Json[]).flatMap((part, i) => stringFields(part, `${path}|${i}`)),
    ),
  ];
  return [...own, ...nested];
}

async function walk(
  base: string,
  document: Json,
  authorize: (op: Operation, as: 'admin' | 'customer') => Promise<Record<string, string>>,
) {
  const operations = operationsOf(document);
  expect(operations.length).toBeGreaterThan(0);
  for (const op of operations) {
    const hasBody = op.operation.requestBody !== undefined;
    const params = op.path.includes('{');
    const auth = await authorize(op, 'admin');
    const idempotency: Record<string, string> = (op.operation.parameters ?? []).some(
      (parameter: Json) => parameter.in === 'header' && parameter.name === 'idempotency-key',
    )
      ? { 'idempotency-key': randomUUID() }
      : {};
    const headers = { ...auth, ...idempotency };

    // Every string field says in its schema that it refuses U+0000, as the server does.
    // (Headers are left out: HTTP cannot carry U+0000 in them at all.)
    const fields = [
      ...(op.operation.parameters ?? [])
        .filter((parameter: Json) => parameter.in !== 'header')
        .flatMap((parameter: Json) => stringFields(parameter.schema, `${parameter.in}.${parameter.name}`)),
      ...stringFields(op.operation.requestBody?.content?.['application/json']?.schema, 'body'),
    ];
    for (const field of fields) {
      expect(refusesNul(field.schema), `${op.method} ${op.path} ${field.path} allows U+0000`).toBe(true);
    }

    // Any path: as it is, with oversized headers, and with every undeclared method.
    expectAnswered(op, await call(base, op.method, concrete(op.path), { headers }), 'a fresh id');
    expectAnswered(
      op,
      await call(base, op.method, concrete(op.path), {
        headers: { ...headers, 'x-padding': 'x'.repeat(20_000) },
      }),
      'oversized headers',
    );
    for (const method of METHODS.filter((method) => !op.allowed.includes(method.toUpperCase()))) {
      const answer = await call(base, method, concrete(op.path), { headers });
      const label = `${method.toUpperCase()} ${op.path}: ${answer.status} ${answer.text.slice(0, 200)}`;
      expect(answer.status, label).toBe(405);
      expect(answer.headers.allow, label).toBe(op.allowed.join(', '));
      expect(problemDocument.safeParse(JSON.parse(answer.text)).success, label).toBe(true);
    }
    if (params) {
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path, 'not-an-id'), { headers }),
        'a bad id',
      );
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path, 'x'.repeat(150)), { headers }),
        'a long id',
      );
    }
    if (hasBody) {
      const json = { ...headers, 'content-type': 'application/json' };
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path), { headers: json, body: '{"a":' }),
        'bad JSON',
      );
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path), { headers: json, body: '{}' }),
        'an empty object',
      );
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path), {
          headers: { ...headers, 'content-type': 'text/plain' },
          body: 'hello',
        }),
        'a text body',
      );
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path), {
          headers: json,
          body: JSON.stringify({ padding: 'x'.repeat(1_100_000) }),
        }),
        'a body over the limit',
      );
    }
    // Another role: a customer where an admin may be needed.
    expectAnswered(
      op,
      await call(base, op.method, concrete(op.path), {
        headers: { ...(await authorize(op, 'customer')), ...idempotency },
      }),
      'as a customer',
    );
  }
}

describe('every operation answers only what its document declares', () => {
  for (const service of SERVICES) {
    it(`${service}, asked directly with the gateway's service tokens`, async () => {
      const base = system.stack.url(service);
      const document = JSON.parse((await call(base, 'get', '/openapi.json')).text);
      await walk(base, document, async (op, as) => {
        const user = deletesCaller(op) ? (await throwaway()).user : as === 'admin' ? admin : customer;
        return { authorization: `Bearer ${await serviceTokens.tokenFor(service, user)}` };
      });
    });
  }

  it('the gateway, with access tokens and without', async () => {
    const base = system.stack.url('gateway');
    const document = JSON.parse((await call(base, 'get', '/openapi.json')).text);
    expect(Object.values(document['x-upstreams'])).not.toContain('unavailable');
    await walk(base, document, async (op, as) => {
      const token = deletesCaller(op)
        ? (await throwaway()).token
        : as === 'admin'
          ? adminToken
          : customerToken;
      return { authorization: `Bearer ${token}` };
    });
    for (const op of operationsOf(document)) {
      expectAnswered(op, await call(base, op.method, concrete(op.path)), 'without a token');
      expectAnswered(
        op,
        await call(base, op.method, concrete(op.path), { headers: { authorization: 'Bearer not-a-token' } }),
        'with a broken token',
      );
    }
  });
});
