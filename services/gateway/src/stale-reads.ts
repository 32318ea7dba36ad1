// Recent answers to reads where a stale answer is safe (the public catalogue),
// kept so that when the service behind them is down, or its breaker is open,
// the gateway can still answer, marked stale, instead of failing. Bounded in
// entries and bytes (least recently stored first out) and in age: an answer
// older than the maximum staleness is never served. Nothing here does I/O; the
// clock is passed in.
//
// What may fall back is decided by the route table (routes.ts), never here:
// writes, the prices an order is placed at and anything per user always go to
// their service and fail when it does.

export interface StoredAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  storedAtMs: number;
}

export interface StaleAnswer extends StoredAnswer {
  /** Whole seconds since it was stored: the `Age` header. */
  ageSeconds: number;
}

export interface StaleReadsOptions {
  /** The oldest answer that may be served, in ms. */
  maxStaleMs: number;
  maxEntries?: number;
  /** Bodies together; one larger than an eighth of this is not kept. */
  maxBytes?: number;
  now?: () => number;
}

export class StaleReads {
  readonly #answers = new Map<string, StoredAnswer>();
  readonly #maxStaleMs: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(options: StaleReadsOptions) {
    this.#maxStaleMs = options.maxStaleMs;
    this.#maxEntries = options.maxEntries ?? 1000;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#answers.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The largest body kept (an eighth of the bytes kept in all), so a caller knows when to stop collecting. */
  get maxBodyBytes(): number {
    return Math.floor(this.#maxBytes / 8);
  }

  /** Whether a body of this many bytes would be kept. */
  accepts(bytes: number): boolean {
    return bytes <= this.maxBodyBytes;
  }

  /** Keeps a successful answer under `key` (the request's path and query), replacing an older one. */
  remember(key: string, answer: Omit<StoredAnswer, 'storedAtMs'>): void {
    if (answer.status !== 200 || !this.accepts(answer.body.length)) return;
    this.#forget(key);
    this.#answers.set(key, { ...answer, storedAtMs: this.#now() });
    this.#bytes += answer.body.length;
    // Map iteration is insertion order: the first entry is the least recently stored.
    for (const [oldest] of this.#answers) {
      if (this.#answers.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#forget(oldest);
    }
  }

  /** The answer stored under `key`, if it is not older than the maximum staleness. */
  recall(key: string): StaleAnswer | undefined {
    const answer = this.#answers.get(key);
    if (!answer) return undefined;
    const ageMs = Math.max(0, this.#now() - answer.storedAtMs);
    if (ageMs > this.#maxStaleMs) {
      this.#forget(key);
      return undefined;
    }
    return { ...answer, ageSeconds: Math.floor(ageMs / 1000) };
  }

  #forget(key: string): void {
    const answer = this.#answers.get(key);
    if (!answer) return;
    this.#answers.delete(key);
    this.#bytes -= answer.body.length;
  }
}

/**
 * The `Cache-Status` (RFC 9211) of an answer served from here: a hit whose
 * remaining freshness is negative (it is stale), with why the service was not
 * used (`fwd-status` when it answered with an error).
 */
export function staleCacheStatus(answer: StaleAnswer, reason: string, upstreamStatus?: number): string {
  const forwarded = upstreamStatus === undefined ? '' : `; fwd-status=${upstreamStatus}`;
  return `shop-gateway; hit; ttl=${-answer.ageSeconds}${forwarded}; detail="${reason}"`;
}
