import { createLogger, failStartup, flags, loadConfig, runService } from '@shop/platform';
import { z } from 'zod';
import { buildProvider } from './app.js';
import { Ledger } from './ledger.js';

try {
  const config = loadConfig(
    z.object({
      HOST: z.string().default('127.0.0.1'),
      PORT: flags.port.default(8090),
      LOG_LEVEL: z.string().default('info'),
      PROVIDER_API_KEY: z.string().min(8).default('sk_test_shop_simulator'),
      PROVIDER_LEDGER_FILE: z.string().optional(),
      PROVIDER_LATENCY_MS: z.coerce.number().int().nonnegative().default(0),
    }),
  );
  const logger = createLogger({ name: 'payment-provider', level: config.LOG_LEVEL });
  const app = buildProvider({
    logger,
    apiKey: config.PROVIDER_API_KEY,
    ledger: new Ledger(config.PROVIDER_LEDGER_FILE),
    latencyMs: config.PROVIDER_LATENCY_MS,
  });
  await runService({ app, host: config.HOST, port: config.PORT, graceMs: 5000 });
} catch (error) {
  failStartup(error);
}
