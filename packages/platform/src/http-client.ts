// The client for calling another service (or an external provider) over HTTP:
// undici connection pool, a deadline per attempt, retries only where repeating
// cannot do the work twice (idempotent methods, or an Idempotency-Key) with
// full-jitter backoff, and one circuit breaker per upstream so a failing
// dependency is given room to recover instead of being hammered. Trace context
// is injected by the undici instrumentation; the request id and a service token
// for the callee are added here.
import CircuitBreaker from 'opossum';
import type { Registry } from 'prom-client';
import { Pool } from 'undici';
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import type { Logger } from './logging.js';
import { Counter, Gauge, Histogram, metric } from './metrics.js';
import { type ActingUser, currentRequestId, currentUser } from './request-context.js';
import { isRetryableStatus, isSafeToRetry, retryAfterMs } from './retry-policy.js';
import type { ServiceTokens } from './service-auth.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface ServiceClientOptions {
  /** The upstream's name: labels metrics, and is the audience of service tokens. */
  upstream: string;
  baseUrl: string;
  timeoutMs?: number;
  /** Extra attempts after the first, for calls that are safe to repeat. */
  retries?: number;
  backoff?: BackoffPolicy;
  breaker?: {
    errorThresholdPercentage?: number;
    resetTimeoutMs?: number;
    volumeThreshold?: number;
    rollingCountTimeoutMs?: number;
  };
  /** Mint a service token per call; omit for external upstreams. */
  tokens?: ServiceTokens;
  metrics?: Registry;
  logger?: Logger;
  connections?: number;
}

export interface CallOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  idempotencyKey?: string;
  timeoutMs?: number;
  /** Act for this user; defaults to the user of the current request, if any. */
  user?: ActingUser;
}

export interface UpstreamResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export type UpstreamFailure = 'timeout' | 'network' | 'breaker-open' | 'server-error';

/** The upstream could not give an answer: it timed out, was unreachable, kept failing, or its breaker is open. */
export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly failure: UpstreamFailure,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

class RetryableResponse extends Error {
  constructor(readonly response: UpstreamResponse) {
    super(`upstream answered ${response.status}`);
  }
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class ServiceClient {
  readonly #pool: Pool;
  readonly #breaker: CircuitBreaker<[CallOptions, number], UpstreamResponse>;
  readonly #options: Required<Pick<ServiceClientOptions, 'timeoutMs' | 'retries' | 'backoff'>> &
    ServiceClientOptions;
  readonly #requests?: Counter;
  readonly #duration?: Histogram;

  constructor(options: ServiceClientOptions) {
    this.#options = { timeoutMs: 2000, retries: 2, backoff: { baseMs: 50, capMs: 1000 }, ...options };
    this.#pool = new Pool(options.baseUrl, { connections: options.connections ?? 64, pipelining: 1 });
    this.#breaker = new CircuitBreaker((call: CallOptions, attempt: number) => this.#attempt(call, attempt), {
      timeout: false, // each attempt has its own deadline
      errorThresholdPercentage: options.breaker?.errorThresholdPercentage ?? 50,
      resetTimeout: options.breaker?.resetTimeoutMs ?? 5000,
      volumeThreshold: options.breaker?.volumeThreshold ?? 5,
      rollingCountTimeout: options.breaker?.rollingCountTimeoutMs ?? 10_000,
      name: options.upstream,
    });
    const registry = options.metrics;
    if (registry) {
      const state = metric(
        registry,
        'http_client_breaker_state',
        () =>
          new Gauge({
            name: 'http_client_breaker_state',
            help: 'Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.',
            labelNames: ['upstream'],
            registers: [registry],
          }),
      );
      const setState = () => state.set({ upstream: options.upstream }, STATE_VALUE[this.breakerState]);
      setState();
      this.#breaker.on('open', setState);
      this.#breaker.on('halfOpen', setState);
      this.#breaker.on('close', setState);
      this.#requests = metric(
        registry,
        'http_client_requests_total',
        () =>
          new Counter({
            name: 'http_client_requests_total',
            help: 'Calls to upstreams by outcome (2xx..5xx, timeout, network, breaker-open).',
            labelNames: ['upstream', 'outcome'],
            registers: [registry],
          }),
      );
      this.#duration = metric(
        registry,
        'http_client_attempt_duration_seconds',
        () =>
          new Histogram({
            name: 'http_client_attempt_duration_seconds',
            help: 'Duration of single attempts to call an upstream.',
            labelNames: ['upstream'],
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
            registers: [registry],
          }),
      );
    }
    this.#breaker.on('open', () =>
      options.logger?.warn({ upstream: options.upstream }, 'circuit breaker opened'),
    );
    this.#breaker.on('halfOpen', () =>
      options.logger?.info({ upstream: options.upstream }, 'circuit breaker half-open'),
    );
    this.#breaker.on('close', () =>
      options.logger?.info({ upstream: options.upstream }, 'circuit breaker closed'),
    );
  }

  get upstream(): string {
    return this.#options.upstream;
  }

  get breakerState(): BreakerState {
    if (this.#breaker.opened) return 'open';
    return this.#breaker.halfOpen ? 'half-open' : 'closed';
  }

  /** For readiness detail: reports the breaker without failing readiness. */
  readonly describe = async () => ({ breaker: this.breakerState });

  async request<T = unknown>(call: CallOptions): Promise<UpstreamResponse<T>> {
    const { upstream, retries, backoff } = this.#options;
    const attempts = isSafeToRetry(call.method, call.idempotencyKey) ? retries + 1 : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        return (await this.#breaker.fire(call, attempt)) as UpstreamResponse<T>;
      } catch (error) {
        lastError = error;
        if ((error as { code?: string }).code === 'EOPENBREAKER') {
          this.#count('breaker-open');
          throw new UpstreamError(
            upstream,
            'breaker-open',
            `${upstream} is failing; its circuit breaker is open`,
            undefined,
            {
              cause: error,
            },
          );
        }
        if (attempt + 1 >= attempts) break;
        const hinted =
          error instanceof RetryableResponse
            ? retryAfterMs(error.response.headers['retry-after'])
            : undefined;
        await sleep(Math.min(hinted ?? fullJitterDelay(attempt, backoff), backoff.capMs));
      }
    }
    if (lastError instanceof RetryableResponse) {
      throw new UpstreamError(
        upstream,
        'server-error',
        `${upstream} answered ${lastError.response.status}`,
        lastError.response.status,
      );
    }
    throw lastError;
  }

  async #attempt(call: CallOptions, attempt: number): Promise<UpstreamResponse> {
    const { upstream, tokens } = this.#options;
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    const requestId = currentRequestId();
    if (requestId) headers['x-request-id'] = requestId;
    if (call.idempotencyKey) headers['idempotency-key'] = call.idempotencyKey;
    if (tokens)
      headers.authorization = `Bearer ${await tokens.tokenFor(upstream, call.user ?? currentUser())}`;
    let body: string | undefined;
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.body);
    }
    const timeoutMs = call.timeoutMs ?? this.#options.timeoutMs;
    const stopTimer = this.#duration?.startTimer({ upstream });
    try {
      const response = await this.#pool.request({
        method: call.method,
        path: call.path,
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.body.text();
      const result: UpstreamResponse = {
        status: response.statusCode,
        headers: response.headers,
        body: parseBody(text, response.headers['content-type']),
      };
      this.#count(`${Math.floor(result.status / 100)}xx`);
      if (isRetryableStatus(result.status)) throw new RetryableResponse(result);
      return result;
    } catch (error) {
      if (error instanceof RetryableResponse) throw error;
      const timedOut = (error as { name?: string }).name === 'TimeoutError';
      this.#count(timedOut ? 'timeout' : 'network');
      this.#options.logger?.debug({ upstream, attempt, err: error }, 'upstream attempt failed');
      throw new UpstreamError(
        upstream,
        timedOut ? 'timeout' : 'network',
        timedOut ? `${upstream} did not answer within ${timeoutMs} ms` : `${upstream} is unreachable`,
        undefined,
        { cause: error },
      );
    } finally {
      stopTimer?.();
    }
  }

  #count(outcome: string): void {
    this.#requests?.inc({ upstream: this.#options.upstream, outcome });
  }

  async close(): Promise<void> {
    this.#breaker.shutdown();
    await this.#pool.close();
  }
}

function parseBody(text: string, contentType: string | string[] | undefined): unknown {
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  if (text.length > 0 && type?.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
