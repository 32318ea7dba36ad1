// A whole stack for an end-to-end test: fresh databases (from the real
// migrations), its own Kafka topics, free ports, fresh secrets, logs in files.
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createServiceDatabase, infra, repoRoot, type TestDatabase, uniquePrefix } from '@shop/testkit';
import {
  type DatabaseService,
  databaseServices,
  freshSecrets,
  type ServiceName,
  Stack,
  type StackOptions,
  serviceNames,
} from '../../src/index.js';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface TestStack {
  stack: Stack;
  databases: Record<DatabaseService, TestDatabase>;
  logDir: string;
  prefix: string;
  stop(): Promise<void>;
}

export async function startTestStack(
  label: string,
  overrides: Partial<Pick<StackOptions, 'env' | 'serviceEnv' | 'logLevel'>> = {},
): Promise<TestStack> {
  const dbList = await Promise.all(databaseServices.map((name) => createServiceDatabase(name)));
  const databases = Object.fromEntries(databaseServices.map((name, i) => [name, dbList[i]!])) as Record<
    DatabaseService,
    TestDatabase
  >;
  const ports = Object.fromEntries(
    await Promise.all(serviceNames.map(async (name) => [name, await freePort()] as const)),
  ) as Record<ServiceName, number>;
  const prefix = uniquePrefix(label);
  const logDir = join(repoRoot, '.run', 'e2e', `${label}-${prefix.split('.')[2]}`);
  const stack = new Stack({
    ports,
    databases: Object.fromEntries(databaseServices.map((name) => [name, databases[name].url])) as Record<
      DatabaseService,
      string
    >,
    kafkaBrokers: infra().kafkaBrokers,
    kafkaTopicPrefix: prefix,
    secrets: await freshSecrets(),
    providerLedgerFile: join(logDir, 'provider-ledger.jsonl'),
    logLevel: overrides.logLevel ?? 'info',
    logs: { dir: logDir },
    // Migrations were applied through the test databases' templates already.
    env: { OTEL_SDK_DISABLED: 'true', ...overrides.env },
    ...(overrides.serviceEnv ? { serviceEnv: overrides.serviceEnv } : {}),
  });
  try {
    await stack.start({ migrate: false });
  } catch (error) {
    await Promise.all(dbList.map((db) => db.drop().catch(() => undefined)));
    throw error;
  }
  return {
    stack,
    databases,
    logDir,
    prefix,
    stop: async () => {
      await stack.stop();
      await Promise.all(dbList.map((db) => db.drop().catch(() => undefined)));
    },
  };
}
