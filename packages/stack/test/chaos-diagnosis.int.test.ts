// The consumer-group part of a failed chaos run's report, against the real broker: who holds
// which partitions and how far behind each group is.
import { infra, testKafka, uniquePrefix } from '@shop/testkit';
import { expect, it } from 'vitest';
import { describeConsumerGroups, formatGroups } from '../src/chaos-diagnosis.js';

it('reports each group’s state, its members’ partitions and its lag on the run’s topics', async () => {
  const kafka = testKafka('chaos-diagnosis-test');
  const prefix = uniquePrefix('diagnosis');
  const topic = `${prefix}shipping.commands`;
  const groupId = `${prefix}shipping`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: ['a', 'b', 'c', 'd'].map((value) => ({ key: 'k', value })) });
  // A member that handles one message, commits it, and then sits on the partition.
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  let seen = 0;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch }) => {
        if (seen++ > 0) return;
        await consumer.commitOffsets([
          { topic, partition: 0, offset: String(Number(batch.messages[0]!.offset) + 1) },
        ]);
        await held;
      },
    });
    let mine: Awaited<ReturnType<typeof describeConsumerGroups>>[number] | undefined;
    for (let i = 0; i < 60 && !mine?.lag['shipping.commands']; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      // A group the broker is still creating has no coordinator yet: asked again.
      mine = (
        await describeConsumerGroups(infra().kafkaBrokers, prefix, (id) => id === groupId).catch(() => [])
      )[0];
    }
    expect(mine).toMatchObject({
      state: 'Stable',
      members: [{ clientId: 'chaos-diagnosis-test', partitions: ['shipping.commands[0]'] }],
      lag: { 'shipping.commands': 3 },
    });
    expect(formatGroups([mine!])).toEqual([
      `    group ${groupId}: Stable, chaos-diagnosis-test: shipping.commands[0]; lag shipping.commands 3`,
    ]);
  } finally {
    release();
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}, 60_000);
