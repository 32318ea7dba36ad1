import { callsOf, type DatabaseService, type ServiceName, system } from '@shop/contracts';

export { type DatabaseService, databaseServices, type ServiceName, serviceNames } from '@shop/contracts';

// The processes that make up the system (declared in packages/contracts'
// system.ts, in the order they start), with what each needs to know.

export const defaultPorts = Object.fromEntries(
  Object.entries(system).map(([name, service]) => [name, service.port]),
) as Record<ServiceName, number>;

export interface StackSettings {
  ports: Record<ServiceName, number>;
  databases: Record<DatabaseService, string>;
  kafkaBrokers: string[];
  kafkaTopicPrefix: string;
  secrets: { serviceTokenSecrets: string; userTokenSigningKeys: string };
  providerLedgerFile?: string;
  logLevel: string;
  /** Extra variables for every service, then per service (tests shorten timeouts, raise rate limits...). */
  env?: Record<string, string>;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
}

const url = (port: number) => `http://127.0.0.1:${port}`;

/**
 * V8's heap limits for every service, the same as the chart's `nodeOptions` (a chart test holds
 * the two equal). Left to its defaults on a machine with plenty of memory, V8 lets the young
 * generation grow to 128 MiB and the old one to several times what is live before collecting it:
 * services with 25-60 MiB of live objects peaked at 240-420 MiB of RSS under the order benchmark.
 * With these limits they peaked at 96-179 MiB, at the same capacity and CPU per order
 * (bench/FINDINGS.md). 256 MiB of old space is far above what is live, so it is no squeeze; V8
 * also grows the heap less eagerly under a limit this size. It leaves room in the chart's
 * 512 MiB memory limit for the young generation, code and buffers.
 */
export const SERVICE_NODE_OPTIONS = '--max-old-space-size=256 --max-semi-space-size=16';

/**
 * Flags for node itself per service, on its command line (NODE_OPTIONS refuses V8's GC flags),
 * the same as the chart's `services.<name>.nodeFlags` and the image's command (a chart test holds
 * them equal).
 *
 * The gateway collects garbage on its main thread alone. It is the one service a person waits on
 * for every request, and it runs on one core (the chart's CPU limit; `make bench` pins it so).
 * V8's helper threads then buy no parallelism: they take turns with the main thread on that core,
 * and requests wait behind the turns. At half its capacity in `make bench` (5,700 requests/s with
 * tracing at production sampling) its p99 was 32-49 ms in eleven runs without the flag (three of
 * them with smaller span-export batches) and 9-13 ms in five with it (bench/FINDINGS.md). The
 * price is memory under saturation: marking takes longer without helpers, so more garbage floats,
 * and the gateway peaked at about 280 MiB of RSS at 11,000 requests/s instead of 180 (its limit
 * is 512 MiB). The other services keep V8's defaults: their latency is the saga's, not a
 * collection's.
 */
export const SERVICE_NODE_FLAGS: Partial<Record<ServiceName, readonly string[]>> = {
  gateway: ['--single-threaded-gc'],
};

/** The environment of one service process. */
export function environmentOf(name: ServiceName, s: StackSettings): Record<string, string> {
  const common = {
    SERVICE_NAME: name,
    HOST: '127.0.0.1',
    PORT: String(s.ports[name]),
    LOG_LEVEL: s.logLevel,
    SERVICE_TOKEN_SECRETS: s.secrets.serviceTokenSecrets,
    KAFKA_BROKERS: s.kafkaBrokers.join(','),
    KAFKA_TOPIC_PREFIX: s.kafkaTopicPrefix,
    NODE_OPTIONS: SERVICE_NODE_OPTIONS,
    ...(name in s.databases ? { DATABASE_URL: s.databases[name as DatabaseService] } : {}),
  };
  // Where the services it calls are, then what only it needs.
  const calls = Object.fromEntries(
    Object.entries(callsOf(name)).map(([callee, variable]) => [
      variable,
      url(s.ports[callee as ServiceName]),
    ]),
  );
  const own: Partial<Record<ServiceName, Record<string, string>>> = {
    'payment-provider': s.providerLedgerFile ? { PROVIDER_LEDGER_FILE: s.providerLedgerFile } : {},
    users: { USER_TOKEN_SIGNING_KEYS: s.secrets.userTokenSigningKeys },
    gateway: {
      // A local stack serves one developer (or a test suite) from one IP: production's
      // per-IP limits on sign-ups and logins would lock them out in a minute.
      RATE_LIMIT_PER_MINUTE: '20000',
      AUTH_RATE_LIMIT_PER_MINUTE: '2000',
    },
  };
  return { ...common, ...calls, ...own[name], ...s.env, ...s.serviceEnv?.[name] };
}
