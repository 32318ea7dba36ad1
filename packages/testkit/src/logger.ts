import { createLogger, type Logger } from '@shop/platform';

/** Quiet unless TEST_LOG_LEVEL asks for more, so a failing test can be rerun with logs. */
export function testLogger(name = 'test'): Logger {
  return createLogger({ name, level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}
