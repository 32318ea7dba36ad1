// Integration tests need the real Postgres and Kafka. When they are not there
// the run fails with what to do: it never quietly skips.
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { infra } from './infra.js';

export default async function setup(): Promise<void> {
  const { adminDatabaseUrl, kafkaBrokers } = infra();
  const client = new pg.Client({ connectionString: adminDatabaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `Postgres is not reachable at ${adminDatabaseUrl} (${(error as Error).message}). Run \`make infra-up\`.`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const admin = new Kafka({
    brokers: kafkaBrokers,
    clientId: 'test-setup',
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (error) {
    throw new Error(
      `Kafka is not reachable at ${kafkaBrokers.join(',')} (${(error as Error).message}). Run \`make infra-up\`.`,
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
