// pino JSON logs that carry the trace and span of the active OpenTelemetry
// context, so a log line can be found from a trace and the other way round.
import { trace } from '@opentelemetry/api';
import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

// One buffered stdout for every logger of the process. pino's default hands
// each line to its own fs.write on libuv's thread pool: at a few thousand
// requests a second the access log alone was a third of the gateway's CPU in
// `make bench`. Lines are written (synchronously, as Node writes stdout) once
// 4 KiB have gathered or every 250 ms, and what is left when the process
// exits; a SIGKILL loses at most that much.
type Destination = ReturnType<typeof pino.destination>;
let stdout: Destination | undefined;
const bufferedStdout = (): Destination => {
  if (!stdout) {
    const stream = pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: 250 });
    process.once('exit', () => stream.flushSync());
    stdout = stream;
  }
  return stdout;
};

// What is never written, wherever it appears in these shapes. Only named paths:
// pino runs a wildcard path ('*.password') over every field of every line,
// which was a tenth of all the gateway allocated per request in `make bench`
// (the access log goes through it too); a named path costs nothing on a line
// without its first key. No log call in this code base passes a secret under
// any other name.
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'password',
  'token',
  'body.password',
  'body.token',
];

/** The options of every service logger (createLogger), apart from where it writes. */
export function loggerOptions(options: { name: string; level?: string } & LoggerOptions): LoggerOptions {
  return {
    ...options,
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
}

export function createLogger(options: { name: string; level?: string } & LoggerOptions): Logger {
  return pino(loggerOptions(options), bufferedStdout());
}
