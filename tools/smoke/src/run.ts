// Runs the smoke suite (node:test) against SMOKE_BASE_URL and exits non-zero if
// any scenario fails. Usage:
//   SMOKE_BASE_URL=http://127.0.0.1:8080 SMOKE_PAYMENTS_URL=http://127.0.0.1:8083 npm run smoke -w tools/smoke
// Variables: SMOKE_BASE_URL (the gateway), SMOKE_ADMIN_EMAIL / SMOKE_ADMIN_PASSWORD
// (default: the seeded admin), SMOKE_PAYMENTS_URL (optional: checks its breaker
// metrics), SMOKE_ORDER_TIMEOUT_MS (default 60000).
import { configFromEnv } from './client.js';

if (process.argv.includes('--help')) {
  process.stdout.write(
    'shop smoke suite\n\n' +
      'Runs the end-to-end scenarios against a running shop through its gateway.\n\n' +
      'Environment:\n' +
      '  SMOKE_BASE_URL          the gateway (default http://127.0.0.1:8080)\n' +
      '  SMOKE_ADMIN_EMAIL       admin account (default: the seeded admin@shop.local)\n' +
      '  SMOKE_ADMIN_PASSWORD    its password\n' +
      '  SMOKE_PAYMENTS_URL      the payments service, to check its circuit breaker metrics\n' +
      '  SMOKE_ORDER_TIMEOUT_MS  how long an order may take to finish (default 60000)\n\n' +
      'Example:\n  SMOKE_BASE_URL=http://127.0.0.1:8080 make smoke\n',
  );
  process.exit(0);
}

const config = configFromEnv();
process.stdout.write(`smoke suite against ${config.baseUrl}\n`);
await import('./scenarios.js');
