// The fallback of the reads that may be answered stale (routes.ts,
// `staleReadable`: the public catalogue). Each such read goes through a
// circuit breaker over its service and its successful answers are kept
// (stale-reads.ts). When the service cannot answer (no connection, a timeout,
// a 5xx) or its breaker is open, the kept answer is served, marked with `Age`
// and `Cache-Status`; with nothing kept, or kept too long ago, the client gets
// the usual problem (503 with Retry-After).
//
// Only reads whose staleness is harmless come here. Writes, anything per user,
// and the prices an order is placed at never do: orders asks inventory for
// prices itself, and fails with 503 when it cannot.
import { Counter, Gauge, type Logger, Problem, type Registry } from '@shop/platform';
import type { FastifyReply } from 'fastify';
import CircuitBreaker from 'opossum';
import { type ForwardingFallback, UpstreamStatusError } from './forward.js';
import { type UpstreamFailure, upstreamFailure } from './forwarding.js';
import { type StaleAnswer, StaleReads, staleCacheStatus } from './stale-reads.js';

type Headers = Record<string, string | string[] | number | undefined>;

export interface StaleReadOptions {
  upstream: string;
  /** The oldest answer served (the documented maximum staleness). */
  maxStaleMs: number;
  maxEntries: number;
  maxBytes: number;
  breaker?: { errorThresholdPercentage?: number; volumeThreshold?: number; resetTimeoutMs?: number };
  metrics: Registry;
  logger?: Logger;
}

/** The headers of a kept answer that still describe it when it is served later. */
const KEPT_HEADERS = ['content-type', 'content-language', 'etag', 'last-modified', 'vary'];

interface Settle {
  succeeded: () => void;
  failed: (error: Error) => void;
}

const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

export class StaleReadFallback {
  readonly #upstream: string;
  readonly #reads: StaleReads;
  readonly #breaker: CircuitBreaker<[(settle: Settle) => void], void>;
  readonly #retryAfterS: string;
  readonly #served: Counter;

  constructor(options: StaleReadOptions) {
    this.#upstream = options.upstream;
    this.#reads = new StaleReads({
      maxStaleMs: options.maxStaleMs,
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
    });
    const resetTimeoutMs = options.breaker?.resetTimeoutMs ?? 5000;
    this.#retryAfterS = String(Math.ceil(resetTimeoutMs / 1000));
    // The action settles when the service's status line arrives (or it fails): the breaker
    // judges whether the service answers, not how long the client takes to read the body.
    this.#breaker = new CircuitBreaker(
      (attempt: (settle: Settle) => void) =>
        new Promise<void>((resolve, reject) => attempt({ succeeded: resolve, failed: reject })),
      {
        timeout: false, // the pool's headers timeout bounds each attempt
        errorThresholdPercentage: options.breaker?.errorThresholdPercentage ?? 50,
        volumeThreshold: options.breaker?.volumeThreshold ?? 5,
        resetTimeout: resetTimeoutMs,
        rollingCountTimeout: 10_000,
        name: `${options.upstream}-stale-reads`,
      },
    );
    const { upstream, metrics, logger } = options;
    this.#served = new Counter({
      name: 'gateway_stale_answers_total',
      help: 'Reads answered from kept answers because their service could not answer, by service and reason.',
      labelNames: ['upstream', 'reason'],
      registers: [metrics],
    });
    const state = new Gauge({
      name: 'gateway_stale_read_breaker_state',
      help: 'The breaker over the reads that may be answered stale: 0 closed, 1 half-open, 2 open.',
      labelNames: ['upstream'],
      registers: [metrics],
    });
    const reads = this.#reads;
    new Gauge({
      name: 'gateway_stale_read_cache_bytes',
      help: 'Bytes of kept answers for the reads that may be answered stale.',
      labelNames: ['upstream'],
      registers: [metrics],
      collect() {
        this.set({ upstream }, reads.bytes);
      },
    });
    const setState = (to: keyof typeof STATE_VALUE) => () => {
      state.set({ upstream }, STATE_VALUE[to]);
      logger?.[to === 'open' ? 'warn' : 'info']({ upstream, breaker: to }, `stale-read breaker ${to}`);
    };
    state.set({ upstream }, 0);
    this.#breaker.on('open', setState('open'));
    this.#breaker.on('halfOpen', setState('half-open'));
    this.#breaker.on('close', setState('closed'));
  }

  /**
   * Forwards a read through the breaker (`go` starts the forwarding with the fallback it is
   * given and reports a failure through its second argument), or answers it from the kept
   * answers when the breaker is open.
   */
  forward(
    key: string,
    reply: FastifyReply,
    go: (fallback: ForwardingFallback, failed: (error: Error) => void) => void,
    problemFor: (failure: UpstreamFailure) => Problem,
  ): void {
    this.#breaker
      .fire((settle) => {
        const fallback: ForwardingFallback = {
          divert: (status) => {
            if (status < 500) {
              settle.succeeded();
              return false;
            }
            settle.failed(new Error(`${this.#upstream} answered ${status}`));
            // The service's own problem goes through unless a kept answer is better.
            const kept = this.#reads.recall(key);
            if (!kept) return false;
            this.#serve(reply, kept, 'status', `${this.#upstream} answered ${status}`, status);
            return true;
          },
          maxKeptBytes: this.#reads.maxBodyBytes,
          keep: (headers, body) =>
            this.#reads.remember(key, { status: 200, headers: keptHeaders(headers), body }),
        };
        go(fallback, (error) => {
          settle.failed(error);
          if (error instanceof UpstreamStatusError) return; // diverted: answered above
          const failure = upstreamFailure(error);
          const kept = this.#reads.recall(key);
          if (kept) this.#serve(reply, kept, failure, `${this.#upstream} ${FAILURE_WORDS[failure]}`);
          else reply.send(problemFor(failure));
        });
      })
      .catch((error: Error & { code?: string }) => {
        if (error.code !== 'EOPENBREAKER') return; // a failure, answered where it happened
        const kept = this.#reads.recall(key);
        if (kept)
          this.#serve(reply, kept, 'breaker-open', `${this.#upstream} is failing; its breaker is open`);
        else
          reply.send(
            new Problem(
              503,
              'upstream-unavailable',
              `The ${this.#upstream} service is failing and nothing recent enough is kept to answer with; retry later.`,
              { headers: { 'retry-after': this.#retryAfterS } },
            ),
          );
      });
  }

  #serve(
    reply: FastifyReply,
    kept: StaleAnswer,
    reason: UpstreamFailure | 'status' | 'breaker-open',
    detail: string,
    upstreamStatus?: number,
  ): void {
    this.#served.inc({ upstream: this.#upstream, reason });
    reply
      .code(200)
      .headers({
        ...kept.headers,
        age: String(kept.ageSeconds),
        'cache-status': staleCacheStatus(kept, detail, upstreamStatus),
      })
      .send(kept.body);
  }
}

const FAILURE_WORDS: Record<UpstreamFailure, string> = {
  unavailable: 'is unreachable',
  timeout: 'did not answer in time',
  'bad-gateway': 'gave no usable answer',
};

function keptHeaders(headers: Headers): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const name of KEPT_HEADERS) {
    const value = headers[name];
    if (value !== undefined) kept[name] = typeof value === 'number' ? String(value) : value;
  }
  return kept;
}
