// Kafka housekeeping for benchmarks: each run uses topics under a prefix of its
// own and deletes them afterwards.
import { infra } from '@shop/testkit';
import { Kafka, logLevel } from 'kafkajs';

export async function deleteTopics(prefix: string): Promise<void> {
  const kafka = new Kafka({ brokers: infra().kafkaBrokers, clientId: 'bench', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const mine = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine });
  } catch {
    // best effort: a leftover empty topic harms nothing
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
