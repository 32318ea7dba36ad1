import { loadConfig } from '@shop/platform';
import { describe, expect, it } from 'vitest';
import { paymentsEnv } from '../src/config.js';
import { leaseFor, providerCallBudgetMs } from '../src/provider/budget.js';

const base = {
  SERVICE_NAME: 'payments',
  PORT: '8083',
  SERVICE_TOKEN_SECRETS: 'a-service-token-secret-of-at-least-32-chars',
  DATABASE_URL: 'postgresql://payments:payments@127.0.0.1:15432/payments',
  KAFKA_BROKERS: '127.0.0.1:19092',
};

describe('payments configuration', () => {
  it('defaults to the local provider simulator, 1500 ms per attempt and two retries, within the 5 s budget', () => {
    expect(loadConfig(paymentsEnv, base)).toMatchObject({
      PROVIDER_URL: 'http://127.0.0.1:8090',
      PROVIDER_API_KEY: 'sk_test_shop_simulator',
      PROVIDER_TIMEOUT: 1500,
      PROVIDER_RETRIES: 2,
      PAYMENT_COMMAND_BUDGET: 5000,
      KAFKA_SESSION_TIMEOUT: 6000,
    });
  });

  it('refuses provider settings whose call could outlast PAYMENT_COMMAND_BUDGET, naming the variables', () => {
    const tooSlow = () => loadConfig(paymentsEnv, { ...base, PROVIDER_TIMEOUT: '5s' });
    expect(tooSlow).toThrow(/PROVIDER_TIMEOUT: .*15.15s.*PAYMENT_COMMAND_BUDGET \(5s\)/);
    // The same settings fit a budget raised for orders and payments alike.
    expect(
      loadConfig(paymentsEnv, { ...base, PROVIDER_TIMEOUT: '5s', PAYMENT_COMMAND_BUDGET: '20s' }),
    ).toMatchObject({
      PROVIDER_TIMEOUT: 5000,
    });
    expect(() => loadConfig(paymentsEnv, { ...base, PROVIDER_URL: 'ftp://x' })).toThrow(/PROVIDER_URL/);
    expect(() => loadConfig(paymentsEnv, { ...base, KAFKA_SESSION_TIMEOUT: '2s' })).toThrow(
      /KAFKA_SESSION_TIMEOUT: at least 6s/,
    );
  });
});

describe('provider budget', () => {
  it('adds every attempt and the longest waits between them', () => {
    expect(providerCallBudgetMs(1500, 2)).toBe(3 * 1500 + 50 + 100);
    expect(providerCallBudgetMs(1000, 0)).toBe(1000);
  });

  it('leases a forward call for one call, a compensation for its three', () => {
    const lease = leaseFor(1500, 2);
    expect(lease({ kind: 'capture', authorizationId: 'a' })).toBe(4650);
    expect(lease({ kind: 'release', compensation: 'void', decision: { action: 'lookup' } })).toBe(3 * 4650);
  });
});
