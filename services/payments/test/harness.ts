// Test wiring shared by the integration tests: the real payment provider
// simulator on a random loopback port (its ledger in reach, its calls counted),
// and provider clients with test-sized timeouts.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createRegistry, type Registry } from '@shop/platform';
import { testLogger } from '@shop/testkit';
import { buildProvider } from '../../payment-provider/src/app.js';
import { Ledger } from '../../payment-provider/src/ledger.js';
import type { AuthorizeCommand } from '../src/domain/payment.js';
import { PaymentProvider, type ProviderSettings } from '../src/provider/client.js';

export const PROVIDER_KEY = 'sk_test_payments_integration';

export interface RunningProvider {
  url: string;
  port: number;
  ledger: Ledger;
  /** `METHOD path` of every request that reached the simulator. */
  calls: string[];
  stop: () => Promise<void>;
}

/** Starts the simulator; pass `port` and `ledger` to bring "the same provider" back after a stop. */
export async function startProvider(
  options: { latencyMs?: number; ledger?: Ledger; port?: number; calls?: string[] } = {},
): Promise<RunningProvider> {
  const ledger = options.ledger ?? new Ledger();
  const calls = options.calls ?? [];
  const app = buildProvider({
    logger: testLogger('payment-provider'),
    apiKey: PROVIDER_KEY,
    ledger,
    ...(options.latencyMs ? { latencyMs: options.latencyMs } : {}),
  });
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/v1/')) calls.push(`${request.method} ${request.url}`);
  });
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, ledger, calls, stop: () => app.close() };
}

const clients: PaymentProvider[] = [];

/** A provider client with its own breaker and metrics registry, so tests do not trip each other's breakers. */
export function providerClient(
  url: string,
  settings: Partial<Omit<ProviderSettings, 'metrics'>> = {},
): { provider: PaymentProvider; metrics: Registry } {
  const metrics = createRegistry('payments');
  const provider = new PaymentProvider({
    baseUrl: url,
    apiKey: PROVIDER_KEY,
    timeoutMs: 1500,
    retries: 2,
    logger: testLogger('payments'),
    metrics,
    ...settings,
  });
  clients.push(provider);
  return { provider, metrics };
}

export async function closeProviderClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((client) => client.close()));
}

export function authorizeCommand(overrides: Partial<AuthorizeCommand> = {}): AuthorizeCommand {
  return {
    orderId: randomUUID(),
    userId: randomUUID(),
    amountCents: 4999,
    currency: 'EUR',
    token: 'tok_visa',
    ...overrides,
  };
}

/** The value of one sample in the Prometheus text a registry exposes, e.g. `metric{label="x"}`. */
export async function sample(metrics: Registry, name: string, labels: Record<string, string>) {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of (await metrics.metrics()).split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const [series, value] = line.split(' ');
    if (wanted.every((pair) => series?.includes(pair))) return Number(value);
  }
  return undefined;
}

/** Authorizations the simulator holds for an order (the order id is their reference). */
export const heldFor = (ledger: Ledger, orderId: string) =>
  [...ledger.authorizations.values()].filter((authorization) => authorization.reference === orderId);
