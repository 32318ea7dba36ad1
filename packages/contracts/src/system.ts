// The system's services, one entry each, in the order they start. Every other
// list of services derives from this one or is checked against it by a test
// (packages/stack/test/system.test.ts), so a new service is its folder under
// services/ plus one entry here:
//
// - packages/stack: the processes of `make dev`, the tests and `make chaos`,
//   their ports, databases and environment;
// - the gateway: its routes and the variables that say where its upstreams are;
// - written by `npm run system:generate` (checked): the chart's catalog
//   (deploy/helm/shop/templates/_catalog.tpl), and so its Deployments, Services,
//   migration Jobs, NetworkPolicies, database Secrets and each pod's URLs; the
//   shell scripts' lists (scripts/lib/system.sh: test-images, make up);
// - checked by that test: skaffold.yaml, the Dockerfile's targets, the chart's
//   values and their schema, scripts/lib/postgres.sh's databases and the
//   README's table of services.

export interface ServiceDeclaration {
  /** Its HTTP port (the local default; in the cluster every pod uses its own). */
  readonly port: number;
  /** Owns a Postgres database of its name, with Prisma migrations in services/<name>/prisma. */
  readonly database: boolean;
  /** Consumes Kafka topics: in a blue-green cutover its consumption follows the active color. */
  readonly consumes: boolean;
  /** Path prefixes the gateway forwards to it, unchanged. */
  readonly routes: readonly string[];
  /** The services it calls over HTTP, and the variable that tells it where each one is. */
  readonly calls: Readonly<Record<string, string>>;
  /** Stands for a third party (the card processor): no color, not killed by chaos, not behind the gateway. */
  readonly external?: true;
}

export const system = {
  'payment-provider': {
    port: 8090,
    database: false,
    consumes: false,
    routes: [],
    calls: {},
    external: true,
  },
  users: {
    port: 8081,
    database: true,
    consumes: false,
    routes: ['/api/v1/auth', '/api/v1/users'],
    calls: {},
  },
  inventory: {
    port: 8082,
    database: true,
    consumes: true,
    routes: ['/api/v1/products'],
    calls: {},
  },
  payments: {
    port: 8083,
    database: true,
    consumes: true,
    routes: [],
    calls: { 'payment-provider': 'PROVIDER_URL' },
  },
  shipping: {
    port: 8086,
    database: true,
    consumes: true,
    routes: ['/api/v1/shipments'],
    calls: {},
  },
  orders: {
    port: 8084,
    database: true,
    consumes: true,
    routes: ['/api/v1/orders', '/api/v2/orders'],
    calls: { inventory: 'INVENTORY_URL' },
  },
  notifications: {
    port: 8085,
    database: true,
    consumes: true,
    routes: ['/api/v1/notifications'],
    calls: {},
  },
  gateway: {
    port: 8080,
    database: false,
    consumes: false,
    routes: [],
    // Every service with routes, and users for its signing keys (see gatewayUpstreams).
    calls: {
      users: 'USERS_URL',
      inventory: 'INVENTORY_URL',
      shipping: 'SHIPPING_URL',
      orders: 'ORDERS_URL',
      notifications: 'NOTIFICATIONS_URL',
    },
  },
} as const satisfies Record<string, ServiceDeclaration>;

export type ServiceName = keyof typeof system;

/** Every service, in the order they start (and the reverse of the order they stop). */
export const serviceNames = Object.keys(system) as ServiceName[];

type WithDatabase = {
  [N in ServiceName]: (typeof system)[N]['database'] extends true ? N : never;
}[ServiceName];
/** The services that own a database (and so have migrations). */
export const databaseServices = serviceNames.filter((name) => system[name].database) as WithDatabase[];
export type DatabaseService = WithDatabase;

type WithRoutes = {
  [N in ServiceName]: (typeof system)[N]['routes'] extends readonly [] ? never : N;
}[ServiceName];
/** The services behind the gateway; each name is also the audience of the service tokens it is sent. */
export const gatewayUpstreams = serviceNames.filter((name) => system[name].routes.length > 0) as WithRoutes[];
export type GatewayUpstream = WithRoutes;

/** The services deployed as a blue and a green Deployment. */
export const coloredServices = serviceNames.filter((name) => !('external' in system[name]));

/** Which service each gateway prefix goes to. */
export const gatewayRoutes: readonly { prefix: string; upstream: GatewayUpstream }[] =
  gatewayUpstreams.flatMap((upstream) => system[upstream].routes.map((prefix) => ({ prefix, upstream })));

/** The variables that tell `name` where the services it calls are, by service. */
export function callsOf(name: ServiceName): Readonly<Record<string, string>> {
  return system[name].calls;
}
