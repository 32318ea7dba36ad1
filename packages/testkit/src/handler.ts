// Handling messages in a test the way IdempotentConsumer hands them to a service:
// in one transaction, as one chunk, with the after-commit effects run once it
// has committed. (No processed_messages row: that is the consumer's part. Nor
// the consumer's per-key lock, unless asked for: a test of what a copy that got
// past it does leaves it out.)
import type { Message } from '@shop/contracts';
import {
  type Database,
  type Logger,
  lockMessageKeys,
  type MessageHandling,
  runEffects,
} from '@shop/platform';
import { testLogger } from './logger.js';

export async function handleInTransaction(
  database: Database,
  handling: MessageHandling,
  messages: Message[],
  log: Logger = testLogger(),
  options: {
    /** Take the per-key locks of this consumer group first, as the consumer does. */
    asConsumerGroup?: string;
  } = {},
): Promise<void> {
  const effects: (() => unknown)[] = [];
  await database.transaction(async (tx) => {
    if (options.asConsumerGroup) await lockMessageKeys(tx, options.asConsumerGroup, messages);
    await handling.handle(messages, {
      tx,
      log,
      afterCommit: (effect) => effects.push(effect),
      traceparent: (message) => message.traceparent,
      within: (_message, work) => work(),
    });
  });
  runEffects(effects, log);
}
