import { loadConfig } from '@shop/platform';
import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_BUDGET_MS, paymentsEnv } from '../src/config.js';
import { commandBudgetMs, providerCallBudgetMs } from '../src/provider/budget.js';

const base = {
  SERVICE_NAME: 'payments',
  PORT: '8083',
  SERVICE_TOKEN_SECRETS: 'a-service-token-secret-of-at-least-32-chars',
  DATABASE_URL: 'postgresql://payments:payments@127.0.0.1:15432/payments',
  KAFKA_BROKERS: '127.0.0.1:19092',
};

describe('payments configuration', () => {
  it('defaults to the local provider simulator, 1500 ms per attempt and two retries', () => {
    expect(loadConfig(paymentsEnv, base)).toMatchObject({
      PROVIDER_URL: 'http://127.0.0.1:8090',
      PROVIDER_API_KEY: 'sk_test_shop_simulator',
      PROVIDER_TIMEOUT: 1500,
      PROVIDER_RETRIES: 2,
    });
  });

  it('refuses a provider budget that would outlast the Kafka session', () => {
    expect(() => loadConfig(paymentsEnv, { ...base, PROVIDER_TIMEOUT: '5s' })).toThrow(/PROVIDER_TIMEOUT/);
    expect(() => loadConfig(paymentsEnv, { ...base, PROVIDER_URL: 'ftp://x' })).toThrow(/PROVIDER_URL/);
  });
});

describe('provider budget', () => {
  it('adds every attempt and the longest waits between them', () => {
    expect(providerCallBudgetMs(1500, 2)).toBe(3 * 1500 + 50 + 100);
    expect(providerCallBudgetMs(1000, 0)).toBe(1000);
    expect(commandBudgetMs(1500, 2)).toBeLessThanOrEqual(MAX_COMMAND_BUDGET_MS);
  });
});
