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

export function loadConfig<S extends z.ZodObject>(
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

/** Reads a duration such as `500ms`, `10s` or `2m` into milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m)$/, 'a duration such as 500ms, 10s or 2m')
  .transform((text) => {
    const value = Number.parseInt(text, 10);
    if (text.endsWith('ms')) return value;
    return text.endsWith('s') ? value * 1000 : value * 60_000;
  });

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
});

export const flags = { booleanFlag, port };
