// The processes that make up the system, in the order they start (and the
// reverse of the order they stop), with what each needs to know.

export const serviceNames = [
  'payment-provider',
  'users',
  'inventory',
  'payments',
  'shipping',
  'orders',
  'notifications',
  'gateway',
] as const;
export type ServiceName = (typeof serviceNames)[number];

/** Services that own a database (and so have migrations). */
export const databaseServices = [
  'users',
  'inventory',
  'payments',
  'shipping',
  'orders',
  'notifications',
] as const;
export type DatabaseService = (typeof databaseServices)[number];

export const defaultPorts: Record<ServiceName, number> = {
  gateway: 8080,
  users: 8081,
  inventory: 8082,
  payments: 8083,
  orders: 8084,
  notifications: 8085,
  shipping: 8086,
  'payment-provider': 8090,
};

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
    ...(name in s.databases ? { DATABASE_URL: s.databases[name as DatabaseService] } : {}),
  };
  const own: Record<ServiceName, Record<string, string>> = {
    'payment-provider': s.providerLedgerFile ? { PROVIDER_LEDGER_FILE: s.providerLedgerFile } : {},
    users: { USER_TOKEN_SIGNING_KEYS: s.secrets.userTokenSigningKeys },
    inventory: {},
    payments: { PROVIDER_URL: url(s.ports['payment-provider']) },
    shipping: {},
    orders: { INVENTORY_URL: url(s.ports.inventory) },
    notifications: {},
    gateway: {
      // A local stack serves one developer (or a test suite) from one IP: production's
      // per-IP limits on sign-ups and logins would lock them out in a minute.
      RATE_LIMIT_PER_MINUTE: '20000',
      AUTH_RATE_LIMIT_PER_MINUTE: '2000',
      USERS_URL: url(s.ports.users),
      INVENTORY_URL: url(s.ports.inventory),
      ORDERS_URL: url(s.ports.orders),
      NOTIFICATIONS_URL: url(s.ports.notifications),
    },
  };
  return { ...common, ...own[name], ...s.env, ...s.serviceEnv?.[name] };
}
