// Consumers follow the active color (docs/bluegreen-conventions.md), on real pods:
// notifications' blue and green both run and are ready, and only the color its active
// Service selects handles what arrives on its topics. What handled a message is read
// from the pods themselves (their consumer_messages_total, on their own addresses),
// from Kafka (the group's members), and what it did from its database.
import { randomUUID } from 'node:crypto';
import { testKafka } from '@shop/testkit';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activeColor,
  bluegreen,
  cluster,
  colorSelector,
  consumersOf,
  containerPid,
  counter,
  databaseUrl,
  eventually,
  imageAlias,
  type KubeObject,
  PORTS,
  pods,
  shop,
} from './support.js';

const k = cluster();
const s = shop();
const service = 'notifications';
const group = 'notifications';
type Color = 'blue' | 'green';
const other = (color: Color): Color => (color === 'blue' ? 'green' : 'blue');

const kafka = testKafka('node-test');
let producer: Producer;
let db: pg.Client;

beforeAll(async () => {
  producer = kafka.producer();
  await producer.connect();
  db = new pg.Client({ connectionString: databaseUrl(s, service) });
  await db.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await db?.end();
});

/** user.registered events, as users' outbox publishes them; returns their message ids. */
async function register(count: number): Promise<string[]> {
  const ids: string[] = [];
  const messages = Array.from({ length: count }, () => {
    const id = randomUUID();
    const userId = randomUUID();
    ids.push(id);
    const payload = {
      id,
      type: 'user.registered',
      version: 1,
      source: 'users',
      time: new Date().toISOString(),
      key: userId,
      traceparent: null,
      data: { userId, email: `${userId}@node-test.shop.local`, name: 'Node Test', role: 'customer' },
    };
    return {
      key: userId,
      value: JSON.stringify(payload),
      headers: { 'content-type': 'application/json', 'message-id': id, 'message-type': 'user.registered' },
    };
  });
  await producer.send({ topic: `${s.topicPrefix}users.events`, acks: -1, messages });
  return ids;
}

/** How many of these messages became a notification (one each at most: the id is unique). */
async function notified(ids: string[]): Promise<number> {
  const { rows } = await db.query(
    'SELECT count(*)::int AS n FROM notifications WHERE source_message_id = ANY($1::uuid[])',
    [ids],
  );
  return rows[0].n;
}

async function allNotified(ids: string[], timeoutMs = 60_000): Promise<void> {
  await eventually(
    `${ids.length} notifications`,
    async () => ((await notified(ids)) === ids.length ? true : undefined),
    {
      timeoutMs,
    },
  );
}

async function colorPods(color: Color): Promise<KubeObject[]> {
  return (await pods(k, s, colorSelector(s, service, color))).filter((p) => !p.metadata.deletionTimestamp);
}

/** Messages each pod of a color has handled, from its own /metrics. */
async function handled(color: Color): Promise<number> {
  let total = 0;
  for (const pod of await colorPods(color)) {
    total += await counter(pod.status.podIP, PORTS[service]!, 'consumer_messages_total', {
      group,
      outcome: 'handled',
    });
  }
  return total;
}

/**
 * The members of the group that are pods of this release's notifications, by pod name
 * (the chart makes a pod's Kafka client id its name; their addresses are all the
 * relay's, 127.0.0.1, on the broker's side).
 */
async function groupMembers(): Promise<Map<string, Color>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    const ours = new Map<string, Color>();
    for (const color of ['blue', 'green'] as const) {
      for (const pod of await colorPods(color)) ours.set(pod.metadata.name, color);
    }
    const members = new Map<string, Color>();
    for (const member of groups[0]?.members ?? []) {
      const color = ours.get(member.clientId);
      if (color) members.set(member.clientId, color);
    }
    return members;
  } finally {
    await admin.disconnect();
  }
}

/** Waits until only `color`'s pods consume, by their reports and by Kafka's group. */
async function consumingOnly(color: Color): Promise<void> {
  await eventually(
    `only ${color} consuming`,
    async () => {
      const view = await consumersOf(s, service);
      const members = [...(await groupMembers()).entries()];
      const done =
        view?.consuming === color &&
        view.colors[color].consuming === view.colors[color].reported &&
        members.length > 0 &&
        members.every(([, c]) => c === color);
      // Thrown, so that a timeout says what was seen last.
      if (!done)
        throw new Error(`pods report ${JSON.stringify(view)}; group members ${JSON.stringify(members)}`);
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
}

/** Scales the preview color to one pod (values-real-node.yaml starts it at none). */
async function previewRunning(preview: Color): Promise<void> {
  const deployment = `${s.release}-${service}-${preview}`;
  await k.kubectl(['scale', 'deployment', deployment, '-n', s.namespace, '--replicas=1']);
  await k.kubectl(['rollout', 'status', 'deployment', deployment, '-n', s.namespace, '--timeout=300s']);
}

describe('consumers follow the active color', () => {
  it('a message sent while the preview color runs is handled only by the active color', async () => {
    const active = await activeColor(k, s, service);
    const preview = other(active);
    await previewRunning(preview);
    expect(await colorPods(preview)).not.toHaveLength(0);
    for (const pod of await colorPods(preview)) {
      const ready = pod.status.conditions.find((c: { type: string }) => c.type === 'Ready');
      expect(ready?.status, `${pod.metadata.name} is ready for HTTP`).toBe('True');
    }
    await consumingOnly(active);
    const before = { active: await handled(active), preview: await handled(preview) };
    const ids = await register(20);
    await allNotified(ids);
    expect(await handled(active)).toBeGreaterThanOrEqual(before.active + ids.length);
    expect(await handled(preview)).toBe(0);
    expect(before.preview).toBe(0);
    expect([...(await groupMembers()).values()].every((c) => c === active)).toBe(true);
  });

  it('after a cutover only the new color handles messages, and the handover takes seconds', async () => {
    const from = await activeColor(k, s, service);
    const to = other(from);
    const image = await imageAlias(s, service, 'consumers');
    const started = Date.now();
    const deploy = await bluegreen(s, ['deploy', service, '--image', image, '--timeout', '5m']);
    expect(deploy.code, deploy.stderr).toBe(0);
    const switched = Date.now();
    await consumingOnly(to);
    const handover = Date.now() - switched;
    process.stdout.write(
      `notifications: deploy ${switched - started} ms, consumption handed over ${handover} ms after the switch\n`,
    );

    const before = { from: await handled(from), to: await handled(to) };
    const ids = await register(20);
    await allNotified(ids);
    expect(await handled(to)).toBeGreaterThanOrEqual(before.to + ids.length);
    expect(await handled(from)).toBe(before.from);
  });

  it('a kill -9 during a rollback’s handover loses nothing and handles nothing twice', async () => {
    const from = await activeColor(k, s, service);
    const to = other(from);
    // A steady stream from before the rollback to well after it.
    const sent: string[] = [];
    let sending = true;
    const stream = (async () => {
      while (sending) {
        sent.push(...(await register(5)));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    await eventually('the stream flowing', async () => (sent.length >= 50 ? true : undefined), {
      timeoutMs: 30_000,
    });

    const rollback = bluegreen(s, ['rollback', service]);
    // The moment the selector moves, the pod taking over is starting its consumers: kill it.
    await eventually(
      'the selector moved',
      async () => ((await activeColor(k, s, service)) === to ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    );
    const victim = (await colorPods(to))[0]!;
    process.kill(await containerPid(victim), 'SIGKILL');
    expect((await rollback).code).toBe(0);

    // The kubelet starts the container again, and it takes over the topics.
    await eventually(
      `${victim.metadata.name} restarted and ready`,
      async () => {
        const pod = await k.get<KubeObject>(['pod', victim.metadata.name, '-n', s.namespace]);
        const status = pod.status.containerStatuses[0];
        return status.restartCount >= 1 && status.ready ? true : undefined;
      },
      { timeoutMs: 120_000 },
    );
    await consumingOnly(to);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    sending = false;
    await stream;

    await allNotified(sent, 120_000);
    // Every message exactly once in effect: one notification each, nothing more.
    expect(await notified(sent)).toBe(sent.length);
    const { rows } = await db.query(
      'SELECT count(*)::int AS n FROM processed_messages WHERE message_id = ANY($1::uuid[])',
      [sent],
    );
    expect(rows[0].n).toBe(sent.length);
  });
});
