// The whole shop for a benchmark, as the end-to-end tests start it: fresh
// databases copied from templates with the real migrations, Kafka topics of its
// own (a prefix), free ports, fresh secrets, JSON logs in files. Topics and
// databases are removed when it stops.
import { join } from 'node:path';
import {
  type DatabaseService,
  databaseServices,
  freshSecrets,
  type ServiceName,
  Stack,
  serviceNames,
} from '@shop/stack';
import { createServiceDatabase, infra, type TestDatabase } from '@shop/testkit';
import { deleteTopics } from './kafka.js';
import { freePort } from './proc.js';

export interface BenchStack {
  stack: Stack;
  databases: Record<DatabaseService, TestDatabase>;
  prefix: string;
  /** The pid of each service's Node process. */
  pids(): Record<ServiceName, number>;
  stop(): Promise<void>;
}

export async function startBenchStack(options: {
  label: string;
  logDir: string;
  prefix: string;
  env?: Record<string, string>;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  runtime?: 'source' | 'compiled';
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
}): Promise<BenchStack> {
  const list = await Promise.all(databaseServices.map((name) => createServiceDatabase(name)));
  // The development server commits without waiting for its WAL (synchronous_commit = off, for the
  // tests' speed); the shop's databases here wait, as production does, so the WAL flushes and the
  // latency measured are what a durable commit costs.
  await Promise.all(list.map((db) => db.query(`ALTER DATABASE "${db.name}" SET synchronous_commit = on`)));
  const databases = Object.fromEntries(databaseServices.map((name, i) => [name, list[i]!])) as Record<
    DatabaseService,
    TestDatabase
  >;
  const ports = Object.fromEntries(
    await Promise.all(serviceNames.map(async (name) => [name, await freePort()] as const)),
  ) as Record<ServiceName, number>;
  const dropAll = async () => {
    await Promise.all(list.map((db) => db.drop().catch(() => undefined)));
    await deleteTopics(options.prefix);
  };
  const stack = new Stack({
    ports,
    databases: Object.fromEntries(databaseServices.map((name) => [name, databases[name].url])) as Record<
      DatabaseService,
      string
    >,
    kafkaBrokers: infra().kafkaBrokers,
    kafkaTopicPrefix: options.prefix,
    secrets: await freshSecrets(),
    providerLedgerFile: join(options.logDir, 'provider-ledger.jsonl'),
    // The production default: one access-log line per request.
    logLevel: 'info',
    logs: { dir: options.logDir },
    env: { NODE_ENV: 'production', ...options.env },
    ...(options.serviceEnv ? { serviceEnv: options.serviceEnv } : {}),
    ...(options.runtime ? { runtime: options.runtime } : {}),
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
  });
  try {
    await stack.start({ migrate: false });
  } catch (error) {
    await dropAll();
    throw error;
  }
  return {
    stack,
    databases,
    prefix: options.prefix,
    pids: () =>
      Object.fromEntries(serviceNames.map((name) => [name, stack.service(name).pid ?? -1])) as Record<
        ServiceName,
        number
      >,
    stop: async () => {
      await stack.stop();
      await dropAll();
    },
  };
}
