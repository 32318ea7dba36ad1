#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// Writes deploy/helm/shop/values.schema.json, the schema `helm install`, `upgrade`,
// `template` and `lint` check values against. Generated because six services share
// most of their keys, and JSON Schema's composition (allOf + unevaluatedProperties)
// reports unknown keys as "false schema" while a flat object with
// additionalProperties: false says "additional properties 'replcas' not allowed".
//
//   node deploy/helm/schema.mjs           rewrite the file
//   node deploy/helm/schema.mjs --check   exit 1 if the file says something else than this script
// (compared as JSON: Biome formats the file its own way).
import { isDeepStrictEqual } from 'node:util';

const target = fileURLToPath(new URL('./shop/values.schema.json', import.meta.url));

const obj = (properties, extra = {}) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const str = (description, extra = {}) => ({
  type: 'string',
  ...(description ? { description } : {}),
  ...extra,
});
const bool = (description) => ({ type: 'boolean', description });
const int = (min, description, extra = {}) => ({
  type: 'integer',
  minimum: min,
  ...(description ? { description } : {}),
  ...extra,
});
const nullableInt = (min, description) => ({ type: ['integer', 'null'], minimum: min, description });
const duration = (description, allowEmpty = false) => ({
  type: 'string',
  pattern: allowEmpty ? '^$|^[0-9]+(ms|s|m)$' : '^[0-9]+(ms|s|m)$',
  description: `${description} (a duration such as 500ms, 10s or 2m${allowEmpty ? '; empty: the default' : ''})`,
});
const quantity = { type: ['string', 'number'], pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$' };
const resourceList = obj({ cpu: quantity, memory: quantity, 'ephemeral-storage': quantity });
const resources = obj(
  { requests: resourceList, limits: resourceList },
  { description: 'requests and limits (cpu, memory, ephemeral-storage)' },
);
const image = str('an image reference, e.g. ghcr.io/acme/shop-orders:1.4.2; empty: from image.*', {
  pattern: '^$|^[a-z0-9][a-z0-9._/:@-]*$',
});
const color = obj({
  image,
  replicas: nullableInt(
    0,
    "replicas of this color; null: keep the live Deployment's (first install: services.<name>.replicas)",
  ),
});
const envMap = {
  type: 'object',
  description: 'extra environment variables of the service (name: value)',
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
  additionalProperties: { type: ['string', 'number', 'boolean'] },
};
const serviceCommon = {
  image,
  replicas: int(0, "each color's replicas on the first install"),
  colors: obj({ blue: color, green: color }, { required: ['blue', 'green'] }),
  resources,
  shutdownGrace: duration('SHUTDOWN_GRACE of this service', true),
  env: envMap,
  nodeFlags: {
    type: 'array',
    description:
      "flags for node on the service's command line, before the module (V8 flags NODE_OPTIONS refuses, such as --single-threaded-gc)",
    items: { type: 'string', pattern: '^--[a-z0-9-]+(=[^\\s]+)?$' },
  },
};
const database = obj({
  url: str('postgresql://user:password@host:5432/db (the chart stores it in a Secret)', {
    pattern: '^$|^postgres(ql)?://',
  }),
  existingSecret: str('a Secret you manage whose key existingSecretKey holds the URL'),
  existingSecretKey: str('', { minLength: 1 }),
  poolSize: int(1, 'DATABASE_POOL_SIZE'),
});
const databaseService = obj(
  { ...serviceCommon, migrationImage: image, database },
  { required: ['database'] },
);
const peers = { type: 'array', items: { type: 'object' } };

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'shop chart values',
  ...obj({
    image: obj({
      registry: str('prepended to every image name; end it with a slash, e.g. ghcr.io/acme/', {
        pattern: '^$|.*/$',
      }),
      prefix: str('image name prefix', { pattern: '^[a-z0-9._-]*$' }),
      tag: { type: ['string', 'number'], description: "image tag; empty: the chart's appVersion" },
      pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
      pullSecrets: { type: 'array', items: { type: 'string' } },
    }),
    bluegreen: obj({
      activeColor: {
        enum: ['', 'blue', 'green'],
        description:
          'the color the active Services select; empty: keep the live one (blue on a first install)',
      },
      previewReplicas: nullableInt(
        0,
        "the preview color's replicas on the first install; null: as the active's",
      ),
      followActiveColor: bool(
        "pods watch their active Service: only the active color consumes from Kafka and keeps clients' connections",
      ),
    }),
    scheduling: obj({
      nodeSelector: { type: 'object', additionalProperties: { type: 'string' } },
      tolerations: { type: 'array', items: { type: 'object' } },
    }),
    bootstrap: obj({
      infrastructureFirst: bool('first install: infrastructure only, services on the next upgrade'),
    }),
    environment: str('deployment.environment of every span', { minLength: 1 }),
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    listenHost: str('address the services listen on', { minLength: 1 }),
    shutdown: obj({
      grace: duration('SHUTDOWN_GRACE'),
      preStopSeconds: int(0, 'preStop sleep'),
      terminationGracePeriodSeconds: nullableInt(1, 'null: preStopSeconds + grace + 5'),
    }),
    auth: obj({ accessTokenTtl: duration('access token lifetime (1m to 1440m)') }),
    resources,
    nodeOptions: str("NODE_OPTIONS of every service (V8's heap limits); empty: none"),
    pdb: obj({ maxUnavailable: { type: ['integer', 'string'], pattern: '^[0-9]+%$', minimum: 0 } }),
    services: obj(
      {
        gateway: obj(
          {
            ...serviceCommon,
            service: obj({
              type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
              nodePort: { type: ['integer', 'null'], minimum: 30000, maximum: 32767 },
            }),
            rateLimit: obj({
              perMinute: int(1, 'RATE_LIMIT_PER_MINUTE (per signed-in user)'),
              anonymousPerMinute: nullableInt(1, 'RATE_LIMIT_ANONYMOUS_PER_MINUTE; null: perMinute'),
              authPerMinute: int(1, 'AUTH_RATE_LIMIT_PER_MINUTE (sign-in and sign-up per client IP)'),
              cacheSize: int(1, 'RATE_LIMIT_CACHE_SIZE'),
            }),
            trustedProxyHops: int(0, 'TRUSTED_PROXY_HOPS'),
            corsOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://' } },
            docsEnabled: bool('serve /docs'),
          },
          { required: ['colors', 'replicas'] },
        ),
        users: databaseService,
        inventory: databaseService,
        payments: databaseService,
        shipping: databaseService,
        orders: databaseService,
        notifications: databaseService,
      },
      { required: ['gateway', 'users', 'inventory', 'payments', 'shipping', 'orders', 'notifications'] },
    ),
    secrets: obj({
      existingSecret: str('a Secret with SERVICE_TOKEN_SECRETS and USER_TOKEN_SIGNING_KEYS'),
      serviceTokenSecrets: str('comma-separated, each at least 32 characters', {
        pattern: '^$|^[^,]{32,}(,[^,]{32,})*$',
      }),
      userTokenSigningKeys: str('a JSON array of private Ed25519 JWKs', { pattern: '^$|^\\s*\\[' }),
    }),
    kafka: obj({
      enabled: bool("run the chart's own single-node Kafka"),
      brokers: str('comma-separated bootstrap brokers (host:port)', {
        pattern: '^$|^[A-Za-z0-9.-]+:[0-9]+(,[A-Za-z0-9.-]+:[0-9]+)*$',
      }),
      topicPrefix: str('KAFKA_TOPIC_PREFIX'),
      topicPartitions: int(1, 'KAFKA_TOPIC_PARTITIONS'),
      replicationFactor: nullableInt(1, 'KAFKA_REPLICATION_FACTOR; null: 1 in-chart, 3 external'),
      image,
      clusterId: str('KRaft cluster id', { minLength: 22, maxLength: 22 }),
      heapOpts: str('KAFKA_HEAP_OPTS'),
      persistence: obj({ enabled: { type: 'boolean' }, size: quantity, storageClass: { type: 'string' } }),
      resources,
    }),
    postgres: obj({
      enabled: bool("run the chart's own Postgres, one server per service with a database"),
      image,
      persistence: obj({ enabled: { type: 'boolean' }, size: quantity, storageClass: { type: 'string' } }),
      resources,
    }),
    telemetry: obj({
      enabled: bool('load the OpenTelemetry SDK in every service'),
      otlpEndpoint: str("OTLP/HTTP endpoint; empty: the chart's collector, if enabled", {
        pattern: '^$|^https?://',
      }),
      sampler: obj(
        {
          name: {
            enum: [
              'always_on',
              'always_off',
              'traceidratio',
              'parentbased_always_on',
              'parentbased_always_off',
              'parentbased_traceidratio',
            ],
            description: 'the OpenTelemetry sampler (OTEL_TRACES_SAMPLER)',
          },
          ratio: {
            type: 'number',
            minimum: 0,
            maximum: 1,
            description: 'the share of new traces the ratio samplers keep (OTEL_TRACES_SAMPLER_ARG)',
          },
        },
        { required: ['name', 'ratio'] },
      ),
    }),
    otelCollector: obj({ enabled: { type: 'boolean' }, image, resources }),
    jaeger: obj({ enabled: { type: 'boolean' }, image, maxTraces: int(1), resources }),
    dashboards: obj({
      enabled: bool('ship the Grafana dashboards (files/dashboards/) in a ConfigMap'),
      label: str("the label Grafana's dashboard sidecar selects ConfigMaps by", {
        pattern: '^[A-Za-z0-9][-A-Za-z0-9_./]*$',
      }),
      labelValue: str('its value'),
      folder: str('the Grafana folder (the grafana_folder annotation)'),
      namespace: str("the ConfigMap's namespace; empty: the release's", {
        pattern: '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      }),
    }),
    paymentProvider: obj({
      enabled: bool('run the card provider simulator'),
      url: str("the card provider's base URL", { pattern: '^$|^https?://' }),
      apiKey: str('PROVIDER_API_KEY', { pattern: '^$|^.{8,}$' }),
      existingSecret: str('a Secret with the key api-key'),
      image,
      resources,
    }),
    seed: obj({
      admin: obj({
        enabled: { type: 'boolean' },
        email: str('the admin account', { pattern: '^[^@\\s]+@[^@\\s]+$' }),
        name: str('', { minLength: 1, maxLength: 100 }),
        password: str('8 to 128 characters; empty: generated', { pattern: '^$|^.{8,128}$' }),
        existingSecret: str('a Secret with the keys email and password'),
      }),
      demoProducts: bool("inventory's demo products"),
    }),
    networkPolicy: obj({
      enabled: { type: 'boolean' },
      gatewayFrom: peers,
      metricsFrom: peers,
      jaegerUiFrom: peers,
      egress: { type: 'array', items: { type: 'object' }, minItems: 1 },
    }),
    tests: obj({ smoke: obj({ image, orderTimeoutMs: int(1000) }) }),
    load: obj({
      enabled: bool('run the load generator (tools/load) against the active gateway'),
      image,
      rate: {
        type: ['number', 'string'],
        exclusiveMinimum: 0,
        pattern: '^[0-9]*\\.?[0-9]+$',
        description: 'orders placed per second (LOAD_RATE); --set gives 2.5 as a string',
      },
      duration: str('how long to send, 0 = until the Deployment is scaled down or deleted (LOAD_DURATION)', {
        pattern: '^0$|^([0-9]+(ms|s|m|h))+$',
      }),
      mix: str('other requests per order placed (LOAD_MIX), e.g. browse=2,product=3', {
        pattern: '^[a-z=0-9.,-]*$',
      }),
      orderMix: str('kinds of orders as shares of the rate (LOAD_ORDER_MIX)', { pattern: '^[a-z=0-9.,-]*$' }),
      interval: duration('a progress line in the log every'),
      drain: duration('on SIGTERM, how long orders in flight may still finish'),
      customers: nullableInt(1, 'customers signed up at the start; null: max(10, 5 x rate)'),
      extraArgs: {
        type: 'array',
        items: { type: 'string' },
        description: 'more command-line flags (see shop-load --help)',
      },
      resources,
    }),
  }),
};

const text = `${JSON.stringify(schema, null, 2)}\n`;
if (process.argv.includes('--check')) {
  if (!isDeepStrictEqual(JSON.parse(readFileSync(target, 'utf8')), schema)) {
    process.stderr.write(`${target} is out of date: run node deploy/helm/schema.mjs\n`);
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
}
