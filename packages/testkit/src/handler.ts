// Handling messages in a test the way IdempotentConsumer hands them to a service:
// in one transaction, as one chunk, with the after-commit effects run once it
// has committed. (No processed_messages row: that is the consumer's part.)
import type { Message } from '@shop/contracts';
import { type Database, type Logger, type MessageHandling, runEffects } from '@shop/platform';
import { testLogger } from './logger.js';

export async function handleInTransaction(
  database: Database,
  handling: MessageHandling,
  messages: Message[],
  log: Logger = testLogger(),
): Promise<void> {
  const effects: (() => unknown)[] = [];
  await database.transaction((tx) =>
    handling.handle(messages, {
      tx,
      log,
      afterCommit: (effect) => effects.push(effect),
      traceparent: (message) => message.traceparent,
      within: (_message, work) => work(),
    }),
  );
  runEffects(effects, log);
}
