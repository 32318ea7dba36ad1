import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testLogger } from '@shop/testkit';
import { describe, expect, it } from 'vitest';
import { buildProvider } from '../src/app.js';
import { Ledger } from '../src/ledger.js';

const apiKey = 'sk_test_key_for_tests';
const auth = { authorization: `Bearer ${apiKey}` };

function provider(ledger = new Ledger()) {
  return buildProvider({ logger: testLogger(), apiKey, ledger });
}

const authorize = (app: ReturnType<typeof provider>, token: string, key: string, amountCents = 1000) =>
  app.inject({
    method: 'POST',
    url: '/v1/authorizations',
    headers: { ...auth, 'idempotency-key': key },
    payload: { amountCents, currency: 'EUR', token, reference: 'order-1' },
  });

describe('payment provider simulator', () => {
  it('approves tok_visa, declines tok_decline, fails tok_error', async () => {
    const app = provider();
    const approved = await authorize(app, 'tok_visa', 'k1');
    expect(approved.statusCode).toBe(201);
    expect(approved.json()).toMatchObject({ status: 'authorized', amountCents: 1000 });
    expect((await authorize(app, 'tok_decline', 'k2')).json()).toEqual({
      error: { code: 'card_declined', message: expect.any(String) },
    });
    expect((await authorize(app, 'tok_error', 'k3')).statusCode).toBe(500);
  });

  it('never answers tok_timeout, yet still closes cleanly', async () => {
    const app = provider();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const answer = await fetch(`http://127.0.0.1:${port}/v1/authorizations`, {
      method: 'POST',
      headers: { ...auth, 'idempotency-key': 'k', 'content-type': 'application/json' },
      body: JSON.stringify({ amountCents: 1, currency: 'EUR', token: 'tok_timeout' }),
      signal: AbortSignal.timeout(500),
    }).catch((error: Error) => error.name);
    expect(answer).toBe('TimeoutError');
    await app.close();
  });

  it('replays a repeated key instead of charging twice, and refuses a reused key with other parameters', async () => {
    const app = provider();
    const first = await authorize(app, 'tok_visa', 'same');
    const second = await authorize(app, 'tok_visa', 'same');
    expect(second.json().id).toBe(first.json().id);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect((await authorize(app, 'tok_visa', 'same', 2000)).statusCode).toBe(422);

    const id = first.json().id;
    const capture = (key: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/authorizations/${id}/capture`,
        headers: { ...auth, 'idempotency-key': key },
      });
    await capture('c1');
    await capture('c1');
    await capture('c2'); // a different key on a captured authorization is a no-op too
    const state = await app.inject({ method: 'GET', url: `/v1/authorizations/${id}`, headers: auth });
    expect(state.json()).toMatchObject({ status: 'captured', captures: 1 });
  });

  it('moves an authorization only along authorized → captured → refunded, or authorized → voided', async () => {
    const app = provider();
    const id = (await authorize(app, 'tok_visa', 'a')).json().id;
    const act = (verb: string, key: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/authorizations/${id}/${verb}`,
        headers: { ...auth, 'idempotency-key': key },
      });
    expect((await act('refund', 'r0')).statusCode).toBe(409);
    expect((await act('void', 'v1')).json().status).toBe('voided');
    expect((await act('capture', 'c1')).json().error.code).toBe('invalid_state');
  });

  it('asks for the API key', async () => {
    const app = provider();
    const response = await app.inject({ method: 'GET', url: '/v1/authorizations' });
    expect(response.statusCode).toBe(401);
  });

  it('remembers everything across a restart when given a ledger file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'provider-')), 'ledger.jsonl');
    const first = provider(new Ledger(file));
    const id = (await authorize(first, 'tok_visa', 'persist')).json().id;
    await first.close();
    const second = provider(new Ledger(file));
    expect((await authorize(second, 'tok_visa', 'persist')).json().id).toBe(id);
    const listed = await second.inject({
      method: 'GET',
      url: '/v1/authorizations?reference=order-1',
      headers: auth,
    });
    expect(listed.json().items).toHaveLength(1);
  });
});
