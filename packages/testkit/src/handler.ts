// Calling a message handler in a test the way IdempotentConsumer calls it: inside
// one transaction, with its after-commit effects run once that has committed.
import { type HandlerContext, type Logger, runEffects } from '@shop/platform';
import { testLogger } from './logger.js';

export async function handleInTransaction<Tx, M>(
  runInTransaction: (work: (tx: Tx) => Promise<void>) => Promise<void>,
  handler: (message: M, context: HandlerContext<Tx>) => Promise<void>,
  message: M,
  log: Logger = testLogger(),
): Promise<void> {
  const effects: (() => void)[] = [];
  await runInTransaction((tx) =>
    handler(message, { tx, log, afterCommit: (effect) => effects.push(effect) }),
  );
  runEffects(effects, log);
}
