import { loadConfig } from '@shop/platform';
import { describe, expect, it } from 'vitest';
import { ordersEnv } from '../src/config.js';
import { deadlineFor, minimumDeadlines } from '../src/saga/deadlines.js';

const base = {
  SERVICE_NAME: 'orders',
  PORT: '8084',
  SERVICE_TOKEN_SECRETS: 'a-service-token-secret-of-at-least-32-chars',
  DATABASE_URL: 'postgresql://orders:orders@127.0.0.1:15432/orders',
  KAFKA_BROKERS: '127.0.0.1:19092',
};

describe('the saga deadlines', () => {
  it('are derived from the Kafka session, a participant restart and the payment budget', () => {
    const config = loadConfig(ordersEnv, base);
    // 6 s session + 10 s restart (+ 2 × 5 s payment budget for payments' steps), once more for a
    // second crash in a row, + 5 s margin.
    expect(config.sagaTimeouts).toEqual({
      forward: {
        SAGA_RESERVE_TIMEOUT: 37_000,
        SAGA_AUTHORIZE_TIMEOUT: 47_000,
        SAGA_SCHEDULE_TIMEOUT: 37_000,
        SAGA_CAPTURE_TIMEOUT: 47_000,
      },
      compensationMs: 5000,
      compensationMaxMs: 60_000,
    });
    const moved = loadConfig(ordersEnv, {
      ...base,
      KAFKA_SESSION_TIMEOUT: '10s',
      PAYMENT_COMMAND_BUDGET: '8s',
      SAGA_DEADLINE_MARGIN: '0s',
      SAGA_CRASHES_TOLERATED: '1',
    });
    expect(moved.sagaTimeouts.forward).toMatchObject({
      SAGA_RESERVE_TIMEOUT: 20_000,
      SAGA_AUTHORIZE_TIMEOUT: 36_000,
    });
  });

  it('take a deadline set explicitly when it is long enough', () => {
    const config = loadConfig(ordersEnv, { ...base, SAGA_AUTHORIZE_TIMEOUT: '2m' });
    expect(config.sagaTimeouts.forward.SAGA_AUTHORIZE_TIMEOUT).toBe(120_000);
  });

  it('refuse at start-up a set that would cancel orders waiting out a crash, naming the variables', () => {
    const start = () =>
      loadConfig(ordersEnv, { ...base, SAGA_AUTHORIZE_TIMEOUT: '10s', SAGA_RESERVE_TIMEOUT: '15s' });
    expect(start).toThrow(
      /SAGA_RESERVE_TIMEOUT: 15s is shorter than KAFKA_SESSION_TIMEOUT \+ SAGA_PARTICIPANT_RESTART \(16s\)/,
    );
    expect(start).toThrow(
      /SAGA_AUTHORIZE_TIMEOUT: 10s is shorter than KAFKA_SESSION_TIMEOUT \+ SAGA_PARTICIPANT_RESTART \+ 2 × PAYMENT_COMMAND_BUDGET \(26s\)/,
    );
    // Lowering what they must cover makes the same deadlines acceptable.
    expect(
      loadConfig(ordersEnv, {
        ...base,
        SAGA_AUTHORIZE_TIMEOUT: '10s',
        SAGA_RESERVE_TIMEOUT: '15s',
        SAGA_PARTICIPANT_RESTART: '0s',
        PAYMENT_COMMAND_BUDGET: '2s',
      }).sagaTimeouts.forward,
    ).toMatchObject({ SAGA_RESERVE_TIMEOUT: 15_000, SAGA_AUTHORIZE_TIMEOUT: 10_000 });
  });

  it('wait longer for each re-sent compensation, up to the cap, and not at all once done', () => {
    const timeouts = loadConfig(ordersEnv, base).sagaTimeouts;
    const wait = (attempts: number) => deadlineFor('VOIDING_PAYMENT', attempts, timeouts, 0);
    expect([1, 2, 3, 4, 5, 6].map(wait)).toEqual([5000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    expect(deadlineFor('DONE', 1, timeouts, 0)).toBeNull();
    expect(minimumDeadlines({ ...loadConfig(ordersEnv, base) }).SAGA_CAPTURE_TIMEOUT.ms).toBe(26_000);
  });
});
