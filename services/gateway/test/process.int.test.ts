// The gateway as a real process (src/main.ts), the way `make dev` and the
// images run it: with the platform telemetry loaded, trace context reaches the
// services; with Kafka unreachable it still starts, serves, and reports not
// ready; SIGTERM stops it cleanly.
import { type ChildProcess, spawn } from 'node:child_process';
import { eventually, infra, repoRoot, TEST_SERVICE_SECRET, uniquePrefix } from '@shop/testkit';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closedPortUrl,
  type Echo,
  type JwksServer,
  signingKey,
  startJwksServer,
  startUpstream,
} from './support.js';

interface GatewayProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let jwks: JwksServer;
let upstreams: Awaited<ReturnType<typeof startUpstream>>[];
let traced: GatewayProcess;
let withoutKafka: GatewayProcess;

async function spawnGateway(env: Record<string, string>, nodeArgs: string[]): Promise<GatewayProcess> {
  const port = new URL(await closedPortUrl()).port;
  const [users, inventory, orders] = upstreams.map((upstream) => upstream.url) as [string, string, string];
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', ...nodeArgs, 'services/gateway/src/main.ts'],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        SERVICE_NAME: 'gateway',
        HOST: '127.0.0.1',
        PORT: port,
        LOG_LEVEL: 'warn',
        SERVICE_TOKEN_SECRETS: TEST_SERVICE_SECRET,
        USERS_URL: users,
        INVENTORY_URL: inventory,
        ORDERS_URL: orders,
        NOTIFICATIONS_URL: orders,
        JWKS_URL: jwks.jwksUrl.toString(),
        KAFKA_TOPIC_PREFIX: uniquePrefix('gateway-process'),
        KAFKA_TOPIC_PARTITIONS: '2',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

const get = async (url: string, headers: Record<string, string> = {}) => {
  const response = await request(url, { headers });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    json: /json/.test(String(response.headers['content-type'])) ? JSON.parse(text) : text,
  };
};

const live = (gateway: GatewayProcess) =>
  eventually(
    async () => {
      if (gateway.child.exitCode !== null) throw new Error(`exited early:\n${gateway.output()}`);
      return (await get(`${gateway.url}/health/live`)).status === 200 ? true : undefined;
    },
    { what: 'the gateway process to listen', timeoutMs: 200_000, intervalMs: 250 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${gateway.output()}`);
  });

beforeAll(async () => {
  jwks = await startJwksServer([await signingKey()]);
  upstreams = [
    await startUpstream('users', ['/api/v1/auth', '/api/v1/users']),
    await startUpstream('inventory', ['/api/v1/products']),
    await startUpstream('orders', ['/api/v1/orders']),
  ];
  traced = await spawnGateway({ KAFKA_BROKERS: infra().kafkaBrokers.join(',') }, [
    '--import',
    '@shop/platform/instrument',
  ]);
  withoutKafka = await spawnGateway(
    { KAFKA_BROKERS: new URL(await closedPortUrl()).host, OTEL_SDK_DISABLED: 'true' },
    [],
  );
  // Loading the telemetry SDK through tsx takes a while (over a minute on a busy 2-core machine).
  await Promise.all([live(traced), live(withoutKafka)]);
}, 240_000);

afterAll(async () => {
  for (const gateway of [traced, withoutKafka]) {
    if (gateway && gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
  }
  await Promise.all((upstreams ?? []).map((upstream) => upstream.close()));
  await jwks?.close();
});

describe('the gateway process', () => {
  it("continues the caller's trace to the service with a traceparent of its own span", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await get(`${traced.url}/api/v1/products`, {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    expect(response.status).toBe(200);
    const seen = (response.json as Echo).headers.traceparent;
    expect(typeof seen, 'exactly one traceparent').toBe('string');
    const [, seenTrace, seenSpan] = String(seen).split('-');
    expect(seenTrace).toBe(traceId);
    expect(seenSpan).not.toBe('00f067aa0ba902b7');
    // Without an incoming trace, the gateway starts one.
    const fresh = await get(`${traced.url}/api/v1/products`);
    expect(String((fresh.json as Echo).headers.traceparent)).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-0[01]$/);
  });

  it('becomes ready once the deny-list has caught up', async () => {
    await eventually(
      async () => ((await get(`${traced.url}/health/ready`)).status === 200 ? true : undefined),
      {
        what: 'readiness',
        timeoutMs: 45_000,
      },
    );
  });

  it('starts without Kafka, serves, and says it is not ready', async () => {
    expect((await get(`${withoutKafka.url}/api/v1/products`)).status).toBe(200);
    const ready = await get(`${withoutKafka.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.json.checks['deny-list']).toMatchObject({
      status: 'down',
      error: expect.stringContaining('Kafka'),
    });
  });

  it('stops cleanly on SIGTERM', async () => {
    for (const gateway of [traced, withoutKafka]) {
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited, gateway.output()).toEqual({ code: 0, signal: null });
    }
  }, 60_000);
});
