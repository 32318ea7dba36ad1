import { loadConfig } from '@shop/platform';
import { describe, expect, it } from 'vitest';
import { gatewayEnv } from '../src/config.js';

const required = {
  SERVICE_NAME: 'gateway',
  PORT: '8080',
  SERVICE_TOKEN_SECRETS: 'a-secret-that-is-at-least-32-characters-long',
  KAFKA_BROKERS: '127.0.0.1:19092',
};

describe('gateway configuration', () => {
  it('has defaults for everything but the platform essentials', () => {
    const config = loadConfig(gatewayEnv, required);
    expect(config).toMatchObject({
      BODY_LIMIT_BYTES: 65_536,
      USERS_URL: 'http://127.0.0.1:8081',
      INVENTORY_URL: 'http://127.0.0.1:8082',
      ORDERS_URL: 'http://127.0.0.1:8084',
      NOTIFICATIONS_URL: 'http://127.0.0.1:8085',
      ACCESS_TOKEN_ISSUER: 'shop-users',
      ACCESS_TOKEN_AUDIENCE: 'shop',
      ACCESS_TOKEN_TTL: 15 * 60_000,
      JWKS_COOLDOWN: 30_000,
      RATE_LIMIT_PER_MINUTE: 300,
      AUTH_RATE_LIMIT_PER_MINUTE: 10,
      TRUSTED_PROXY_HOPS: 0,
      CORS_ORIGINS: [],
      DOCS_ENABLED: true,
      RATE_LIMIT_ENABLED: true,
    });
    expect(config.RATE_LIMIT_ANONYMOUS_PER_MINUTE).toBeUndefined();
  });

  it('reads lists, limits and durations', () => {
    const config = loadConfig(gatewayEnv, {
      ...required,
      CORS_ORIGINS: 'https://shop.example, https://admin.shop.example',
      RATE_LIMIT_PER_MINUTE: '100000',
      ACCESS_TOKEN_TTL: '5m',
      DOCS_ENABLED: 'false',
      RATE_LIMIT_ENABLED: 'false',
    });
    expect(config.CORS_ORIGINS).toEqual(['https://shop.example', 'https://admin.shop.example']);
    expect(config.RATE_LIMIT_PER_MINUTE).toBe(100_000);
    expect(config.ACCESS_TOKEN_TTL).toBe(300_000);
    expect(config.DOCS_ENABLED).toBe(false);
    expect(config.RATE_LIMIT_ENABLED).toBe(false);
  });

  it('names every bad variable', () => {
    expect(() =>
      loadConfig(gatewayEnv, { ...required, USERS_URL: 'users', RATE_LIMIT_PER_MINUTE: '0' }),
    ).toThrow(/USERS_URL[\s\S]*RATE_LIMIT_PER_MINUTE|RATE_LIMIT_PER_MINUTE[\s\S]*USERS_URL/);
  });
});
