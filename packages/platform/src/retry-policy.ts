// Pure decisions about retrying: which HTTP calls may be repeated, which
// responses are worth another try, and which errors are the infrastructure's
// passing fault (wait and retry for as long as it takes) rather than a bug.

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** A call may be repeated when repeating it cannot do the work twice. */
export function isSafeToRetry(method: string, idempotencyKey: string | undefined): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase()) || Boolean(idempotencyKey);
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

/** Seconds from a Retry-After header (delta-seconds form), or undefined. */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value || !/^\d+$/.test(value)) return undefined;
  return Number(value) * 1000;
}

// Postgres SQLSTATEs that say "try again": connection exceptions (class 08),
// shutdown in progress, too many connections, serialization failure, deadlock.
const TRANSIENT_SQLSTATE = /^(08...|57P0[123]|53300|40001|40P01)$/;
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTCONN',
  'EAI_AGAIN',
]);
// Prisma's codes for an unreachable or lost database, pool exhaustion and write conflicts.
const TRANSIENT_PRISMA = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2034']);
// Driver adapter error kinds for the same situations.
const TRANSIENT_ADAPTER_KINDS = new Set([
  'ConnectionClosed',
  'DatabaseNotReachable',
  'SocketTimeout',
  'TooManyConnections',
  'TransactionWriteConflict',
  'TransactionAlreadyClosed',
]);
const TRANSIENT_MESSAGE =
  /Connection terminated|Client has encountered a connection error|terminating connection/i;

/** True when the error (or any error in its cause chain) is a passing infrastructure fault. */
export function isTransientInfrastructureError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as {
      code?: unknown;
      kind?: unknown;
      message?: unknown;
      meta?: { code?: unknown };
      cause?: unknown;
    };
    if (typeof e.code === 'string') {
      if (TRANSIENT_SQLSTATE.test(e.code) || TRANSIENT_ERRNO.has(e.code) || TRANSIENT_PRISMA.has(e.code))
        return true;
    }
    if (typeof e.meta?.code === 'string' && TRANSIENT_SQLSTATE.test(e.meta.code)) return true;
    if (typeof e.kind === 'string' && TRANSIENT_ADAPTER_KINDS.has(e.kind)) return true;
    if (typeof e.message === 'string' && TRANSIENT_MESSAGE.test(e.message)) return true;
    current = e.cause;
  }
  return false;
}
