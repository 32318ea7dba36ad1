import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logging.js';
import { isRetriableKafkaError, retryWhileBrokerStarts } from '../src/runtime.js';

const logger = createLogger({ name: 'test', level: 'silent' });

describe('a service starting beside a broker that is still starting', () => {
  it("tells the broker's passing refusals from real faults", () => {
    expect(isRetriableKafkaError(new KafkaJSConnectionError('Connection error: ECONNREFUSED'))).toBe(true);
    expect(
      isRetriableKafkaError(
        new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('refused'), {
          retryCount: 5,
          retryTime: 1000,
        }),
      ),
    ).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSNonRetriableError('Topic authorization failed'))).toBe(false);
    expect(isRetriableKafkaError(new Error('a bug'))).toBe(false);
    expect(isRetriableKafkaError(undefined)).toBe(false);
  });

  it('retries a retriable refusal until the broker answers', async () => {
    let calls = 0;
    const result = await retryWhileBrokerStarts(
      'connecting',
      async () => {
        calls += 1;
        if (calls < 3) throw new KafkaJSConnectionError('This server does not host this topic-partition');
        return 'connected';
      },
      logger,
    );
    expect(result).toBe('connected');
    expect(calls).toBe(3);
  });

  it('fails at once on a fault that will not pass, and after the budget on one that does not', async () => {
    let calls = 0;
    const fatal = retryWhileBrokerStarts(
      'connecting',
      async () => {
        calls += 1;
        throw new KafkaJSNonRetriableError('Topic authorization failed');
      },
      logger,
    );
    await expect(fatal).rejects.toThrow('Topic authorization failed');
    expect(calls).toBe(1);

    const stuck = retryWhileBrokerStarts(
      'connecting',
      async () => {
        throw new KafkaJSConnectionError('refused');
      },
      logger,
      300,
    );
    await expect(stuck).rejects.toThrow('refused');
  });
});
