// The deny-list against the real Kafka: a `user.deleted` event on the (uniquely
// prefixed) users.events topic makes the gateway refuse that user's still-valid
// tokens, and a gateway started after the event knows it too, because it reads
// back one token lifetime by timestamp when it starts.
import { buildMessage } from '@shop/contracts';
import { ensureTopics } from '@shop/platform';
import { eventually, infra, testKafka, testLogger, testUser, uniquePrefix } from '@shop/testkit';
import { createRemoteJWKSet } from 'jose';
import type { Producer } from 'kafkajs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenyList } from '../src/deny-list.js';
import { DenyListFeed } from '../src/deny-list-feed.js';
import {
  bearer,
  type JwksServer,
  type SigningKey,
  signingKey,
  startGateway,
  startJwksServer,
  startUpstream,
} from './support.js';

const TOKEN_LIFETIME_MS = 15 * 60_000;
const prefix = uniquePrefix('gateway-deny');
const topic = `${prefix}users.events`;
const kafka = testKafka('gateway-deny-test');

let key: SigningKey;
let jwks: JwksServer;
let producer: Producer;
let upstreams: Awaited<ReturnType<typeof startUpstream>>[];
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  key = await signingKey();
  jwks = await startJwksServer([key]);
  upstreams = [
    await startUpstream('users', ['/api/v1/auth', '/api/v1/users']),
    await startUpstream('inventory', ['/api/v1/products']),
    await startUpstream('orders', ['/api/v1/orders']),
  ];
  await ensureTopics(kafka, [topic], { partitions: 3, replicationFactor: 1 });
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await producer?.disconnect();
  await Promise.all((upstreams ?? []).map((upstream) => upstream.close()));
  await jwks?.close();
});

/** A gateway wired the way main.ts wires it: its own deny-list, fed from Kafka, in readiness. */
async function startGatewayWithFeed() {
  const [users, inventory, orders] = upstreams.map((upstream) => upstream.url) as [string, string, string];
  const denyList = new DenyList(TOKEN_LIFETIME_MS);
  const gateway = await startGateway({
    jwks: createRemoteJWKSet(jwks.jwksUrl),
    upstreams: { users, inventory, orders, notifications: orders, shipping: orders },
    denyList,
  });
  const feed = new DenyListFeed({
    brokers: infra().kafkaBrokers,
    topicPrefix: prefix,
    partitions: 3,
    replicationFactor: 1,
    denyList,
    lookbackMs: TOKEN_LIFETIME_MS,
    logger: testLogger('deny-list-feed'),
    metrics: gateway.app.metrics,
  });
  gateway.app.readiness.add('deny-list', feed.check);
  feed.start();
  stops.push(
    () => gateway.close(),
    () => feed.stop(),
  );
  return { ...gateway, feed, denyList };
}

const publishDeletion = async (userId: string, at = new Date()) => {
  const message = buildMessage('user.deleted', userId, { userId }, { source: 'users', time: at });
  await producer.send({
    topic,
    messages: [{ key: userId, value: JSON.stringify(message), timestamp: String(at.getTime()) }],
  });
};

const status = async (url: string, authorization?: string) => {
  const response = await request(url, authorization ? { headers: { authorization } } : {});
  const body = await response.body.json().catch(() => null);
  return { status: response.statusCode, body: body as { detail?: string; checks?: Record<string, unknown> } };
};

describe('deleted users', () => {
  it("refuses a deleted user's tokens, also in a gateway started after the deletion", async () => {
    const deleted = testUser();
    const longAgo = testUser();
    const bystander = testUser();
    // Deleted before the last token lifetime: no token of theirs can be alive.
    await publishDeletion(longAgo.id, new Date(Date.now() - TOKEN_LIFETIME_MS - 120_000));
    await producer.send({ topic, messages: [{ key: 'junk', value: 'not an envelope' }] });

    const first = await startGatewayWithFeed();
    await eventually(
      async () => ((await status(`${first.url}/health/ready`)).status === 200 ? true : undefined),
      {
        what: 'the first gateway to be ready',
        timeoutMs: 30_000,
      },
    );
    const orders = `${first.url}/api/v1/orders`;
    expect((await status(orders, await bearer(deleted, key))).status).toBe(200);

    await publishDeletion(deleted.id);
    const refused = await eventually(
      async () => {
        const response = await status(orders, await bearer(deleted, key));
        return response.status === 401 ? response : undefined;
      },
      { what: 'the deletion to reach the gateway', timeoutMs: 20_000 },
    );
    expect(refused.body.detail).toContain('revoked');
    expect((await status(orders, await bearer(bystander, key))).status).toBe(200);
    expect((await status(orders, await bearer(longAgo, key))).status).toBe(200);
    // A public route still serves them, as anyone.
    expect((await status(`${first.url}/api/v1/products`, await bearer(deleted, key))).status).toBe(200);

    // A new instance, started after the event: not ready until it has read back, then refusing.
    const second = await startGatewayWithFeed();
    expect(second.feed.groupId).not.toBe(first.feed.groupId);
    await eventually(async () => (second.feed.caughtUp ? true : undefined), {
      what: 'the second gateway to catch up',
      timeoutMs: 30_000,
    });
    const ready = await status(`${second.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.checks?.['deny-list']).toMatchObject({ status: 'up', phase: 'live', entries: 1 });
    const again = await status(`${second.url}/api/v1/orders`, await bearer(deleted, key));
    expect(again.status).toBe(401);
    expect((await status(`${second.url}/api/v1/orders`, await bearer(longAgo, key))).status).toBe(200);
  });
});
