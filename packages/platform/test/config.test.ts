import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, databaseEnv, duration, loadConfig, serviceEnv } from '../src/config.js';

const secret = 'x'.repeat(32);

describe('loadConfig', () => {
  it('parses and applies defaults', () => {
    const config = loadConfig(serviceEnv, {
      SERVICE_NAME: 'orders',
      PORT: '8084',
      SERVICE_TOKEN_SECRETS: `${secret},${secret}y`,
    });
    expect(config).toMatchObject({
      PORT: 8084,
      HOST: '127.0.0.1',
      SHUTDOWN_GRACE: 10_000,
      LOG_LEVEL: 'info',
    });
    expect(config.SERVICE_TOKEN_SECRETS).toHaveLength(2);
  });

  it('names every missing or invalid variable in one error', () => {
    const attempt = () =>
      loadConfig(serviceEnv.extend(databaseEnv.shape), {
        SERVICE_NAME: 'orders',
        PORT: 'eighty',
        SERVICE_TOKEN_SECRETS: 'short',
        DATABASE_URL: 'mysql://nope',
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const { problems, message } = error as ConfigError;
      expect(problems.map((p) => p.variable).sort()).toEqual([
        'DATABASE_URL',
        'PORT',
        'SERVICE_TOKEN_SECRETS',
      ]);
      expect(message).toContain('PORT');
      expect(message).toContain('at least 32 characters');
    }
  });

  it('says "is required" for an absent variable', () => {
    try {
      loadConfig(z.object({ KAFKA_BROKERS: z.string() }), {});
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        { variable: 'KAFKA_BROKERS', message: 'is required' },
      ]);
    }
  });

  it('reads durations', () => {
    expect(duration.parse('250ms')).toBe(250);
    expect(duration.parse('15s')).toBe(15_000);
    expect(duration.parse('2m')).toBe(120_000);
    expect(duration.safeParse('15').success).toBe(false);
  });
});
