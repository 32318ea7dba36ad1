// One config object per process, parsed from the environment at start-up. A bad
// or missing variable stops the process with a message naming every culprit.
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}\n` +
        'Set the variables above (see the service README for each one) and start again.',
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: issue.path.join('.') || '(environment)',
      message:
        issue.code === 'invalid_type' && env[String(issue.path[0])] === undefined
          ? 'is required'
          : issue.message,
    })),
  );
}

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Reads a duration such as `500ms`, `10s`, `2m`, `1h` or `7d` into milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 500ms, 10s, 2m, 1h or 7d')
  .transform((text) => {
    const unit = text.match(/[a-z]+$/)![0] as keyof typeof durationUnits;
    return Number.parseInt(text, 10) * durationUnits[unit];
  });

/** Milliseconds for a person (15.15s, 2m, 500ms), in messages that name a configured value. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Number((ms / 1000).toFixed(3))}s`;
}

const port = z.coerce.number().int().min(1).max(65_535);
const booleanFlag = z.enum(['true', 'false']).transform((value) => value === 'true');

/** What every service process reads. */
export const serviceEnv = z.object({
  SERVICE_NAME: z.string().min(1),
  HOST: z.string().default('127.0.0.1'),
  PORT: port,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a stopping process may take before it is forced out. */
  SHUTDOWN_GRACE: duration.prefault('10s'),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  /** Comma-separated shared secrets for service tokens; the first signs, any verifies (rotation). */
  SERVICE_TOKEN_SECRETS: z
    .string()
    .min(32, 'at least 32 characters')
    .transform((value) => value.split(',').map((secret) => secret.trim())),
});

export const databaseEnv = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
});

/**
 * Set by the chart on every blue-green pod: its color and its active Service, which it
 * watches so that only the active color consumes (consumption-gate.ts). Unset outside
 * Kubernetes: the service always consumes.
 */
export const blueGreenEnv = z.object({
  BLUEGREEN_COLOR: z.enum(['blue', 'green']).optional(),
  BLUEGREEN_ACTIVE_SERVICE: z.string().min(1).optional(),
  /** Where the pod says whether it consumes (`bluegreen status` reads it). */
  BLUEGREEN_CONSUMERS_CONFIGMAP: z.string().min(1).optional(),
  POD_NAMESPACE: z.string().min(1).optional(),
  POD_NAME: z.string().min(1).optional(),
});

export const kafkaEnv = z.object({
  KAFKA_BROKERS: z
    .string()
    .min(1)
    .transform((value) => value.split(',').map((broker) => broker.trim())),
  KAFKA_CLIENT_ID: z.string().optional(),
  /** Partitions for topics the service creates at start-up if they are missing. */
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().positive().default(6),
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().positive().default(1),
  /** Prepended to every topic, so several environments (or test runs) can share one cluster. */
  KAFKA_TOPIC_PREFIX: z.string().default(''),
  /**
   * How long a consumer group waits for a member that died without leaving before its partitions
   * move (kafka.ts explains why it can be short). Kafka refuses less than its
   * group.min.session.timeout.ms, 6 s by default.
   */
  KAFKA_SESSION_TIMEOUT: duration
    .prefault('6s')
    .refine(
      (ms) => ms >= 6000,
      'at least 6s: Kafka refuses a shorter session (group.min.session.timeout.ms)',
    ),
  KAFKA_HEARTBEAT_INTERVAL: duration.prefault('1s'),
  /**
   * The least time from a consumer's fetch to its next, so that what arrives meanwhile shares
   * one fetch and one transaction (one WAL flush). A message after a quiet spell is fetched at
   * once; the ones right behind it wait for the next round. 0 handles each message as it comes,
   * and at moderate rates spends a round, and a process wake-up on every side, on each. At 50
   * orders/s on the 2-core benchmark machine: without it about 19 ms of Node CPU and 8.8 WAL
   * flushes per order, p99 195 ms; with 25ms 12-16 ms, 5.8-6.2 flushes, p99 170-200 ms; with
   * 40ms 13-14 ms, 4.1-4.5 flushes, p99 230-275 ms (bench/FINDINGS.md). 35ms spends part of
   * the latency left under the 300 ms target on cost. Lower it where latency matters more.
   */
  CONSUMER_LINGER: duration.prefault('35ms'),
  /**
   * The least time between two claims of the outbox relay. 0 by default: the relay already
   * claims once per transaction that wrote rows (their NOTIFY), and lingering there too cost
   * about 80 ms at p50 for no CPU that the runs could tell apart (bench/FINDINGS.md).
   */
  OUTBOX_LINGER: duration.prefault('0ms'),
  ...blueGreenEnv.shape,
});

/**
 * How long payments may take to carry out one forward command (authorize, capture) at the card
 * provider, every attempt and wait included. Read by both sides of that contract: payments
 * refuses to start when its provider settings could take longer, and orders derives the saga's
 * payment deadlines from it. Set it once for both (the dev stack and the chart do).
 */
export const paymentBudgetEnv = z.object({ PAYMENT_COMMAND_BUDGET: duration.prefault('5s') });

/** How long the messaging tables keep what they no longer need (retention.ts). */
export const messagingEnv = z.object({
  /** Published outbox rows are kept this long, for support and debugging. */
  OUTBOX_RETENTION: duration.prefault('1h'),
  /**
   * A handled message's record is kept this long; a copy redelivered later would be handled
   * again. Keep it at least as long as the topics keep messages (Kafka's default is 7 days).
   */
  PROCESSED_MESSAGES_RETENTION: duration.prefault('7d'),
});

export const flags = { booleanFlag, port };
