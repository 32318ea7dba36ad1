// The real process, as `make dev` starts it: it listens, reports ready with its
// database, and its outbox relay publishes user events to Kafka.
import { createServer } from 'node:net';
import { parseMessage } from '@shop/contracts';
import {
  asGateway,
  collect,
  createServiceDatabase,
  eventually,
  infra,
  runTs,
  TEST_SERVICE_SECRET,
  type TestDatabase,
  testKafka,
  uniquePrefix,
} from '@shop/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshKeys, newcomer } from './support.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createServiceDatabase('users');
});
afterAll(async () => {
  await db.drop();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the users process', () => {
  it('serves the API, turns ready, publishes user.registered and user.deleted, and stops on SIGTERM', async () => {
    const port = await freePort();
    const prefix = uniquePrefix('users');
    const service = runTs('services/users/src/main.ts', {
      SERVICE_NAME: 'users',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      KAFKA_BROKERS: infra().kafkaBrokers.join(','),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_TOPIC_PARTITIONS: '1',
      SERVICE_TOKEN_SECRETS: TEST_SERVICE_SECRET,
      USER_TOKEN_SIGNING_KEYS: JSON.stringify(await freshKeys(1)),
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      const ready = await eventually(
        async () => {
          // The server listens (and answers ready) before messaging has started; wait for the relay's check.
          const answer = await fetch(`${base}/health/ready`);
          const report = (await answer.json()) as { checks: Record<string, { status: string }> };
          return answer.status === 200 && report.checks.outbox ? report : undefined;
        },
        { timeoutMs: 60_000, what: 'users ready' },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${service.output()}`);
      });
      expect(ready.checks).toMatchObject({ database: { status: 'up' }, outbox: { status: 'up' } });
      expect((await fetch(`${base}/.well-known/jwks.json`)).status).toBe(200);

      const body = newcomer();
      const post = async (path: string, payload: unknown) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { ...(await asGateway('users')), 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
      const registered = await post('/api/v1/auth/register', body);
      expect(registered.status).toBe(201);
      const { id } = (await registered.json()) as { id: string };
      const { accessToken } = (await (await post('/api/v1/auth/login', body)).json()) as {
        accessToken: string;
      };
      expect(accessToken).toEqual(expect.any(String));
      const deleted = await fetch(`${base}/api/v1/users/me`, {
        method: 'DELETE',
        headers: await asGateway('users', { id, role: 'customer' }),
      });
      expect(deleted.status).toBe(204);

      const received = await collect(
        testKafka('users-test'),
        `${prefix}users.events`,
        (messages) => messages.filter((m) => m.key === id).length >= 2,
      );
      const types = received
        .filter((m) => m.key === id)
        .map((m) => {
          const parsed = parseMessage(m.value);
          if (!parsed.ok) throw new Error(parsed.reason);
          return parsed.message.type;
        });
      expect(types).toEqual(['user.registered', 'user.deleted']);
    } finally {
      service.child.kill('SIGTERM');
    }
    const { code } = await service.exited;
    expect(code, service.output()).toBe(0);
  });
});
