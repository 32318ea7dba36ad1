// The payments HTTP app, built without listening so tests can drive it directly,
// and the provider client wired into its metrics and readiness.
import { createServer, type Logger, serviceAuth } from '@shop/platform';
import type { PrismaClient } from './db.js';
import { PaymentProvider, PROVIDER_UPSTREAM, type ProviderSettings } from './provider/client.js';
import { paymentRoutes } from './routes/payments.js';

export interface PaymentsDeps {
  prisma: PrismaClient;
  logger: Logger;
  serviceTokenSecrets: string[];
  bodyLimit?: number;
}

export function buildApp(deps: PaymentsDeps) {
  const app = createServer({
    name: 'payments',
    logger: deps.logger,
    ...(deps.bodyLimit ? { bodyLimit: deps.bodyLimit } : {}),
    openapi: {
      title: 'shop payments',
      version: '1.0.0',
      description: 'Payments of orders against the card provider',
    },
  });
  app.register(serviceAuth, { audience: 'payments', secrets: deps.serviceTokenSecrets });
  app.register(async (scope) => paymentRoutes(scope, deps.prisma));
  return app;
}

/**
 * The provider client on this app's metrics registry (breaker state and call
 * outcomes in /metrics) and in its readiness as a non-critical detail: an open
 * breaker is worth seeing, but restarting or unrouting payments would not help.
 * The caller closes it after the consumers have stopped.
 */
export function attachProvider(
  app: ReturnType<typeof buildApp>,
  settings: Omit<ProviderSettings, 'metrics' | 'logger'>,
): PaymentProvider {
  const provider = new PaymentProvider({ ...settings, metrics: app.metrics, logger: app.log as Logger });
  app.readiness.add(PROVIDER_UPSTREAM, provider.describe, { critical: false });
  return provider;
}
