// The shop's public API over one undici Pool of keep-alive connections to the
// gateway. Every call is timed from the moment it is issued (queueing for a
// free connection included, as a client would feel it) to the last byte of
// the body, and recorded under its kind.
import { errors, Pool } from 'undici';
import type { LoadStats, Outcome } from './stats.js';

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Statuses that are not errors for this call. */
  expect: readonly number[];
}

export interface CallResult<T> {
  /** The HTTP status; 0 when the request failed on the network. */
  status: number;
  outcome: Outcome;
  /** The parsed JSON body (the text when it is not JSON); undefined after a network failure. */
  body: T;
}

export class ShopHttp {
  readonly #pool: Pool;

  constructor(
    readonly baseUrl: string,
    private readonly stats: LoadStats,
    options: { connections: number; requestTimeoutMs: number },
  ) {
    this.#pool = new Pool(baseUrl, {
      connections: options.connections,
      pipelining: 1,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
      connectTimeout: Math.min(options.requestTimeoutMs, 10_000),
      keepAliveTimeout: 30_000,
    });
  }

  /** One request, recorded under `kind`; never throws. */
  async call<T = unknown>(
    kind: string,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    options: CallOptions,
  ): Promise<CallResult<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const started = performance.now();
    let outcome: Outcome;
    try {
      const response = await this.#pool.request({ method, path, headers, body });
      const text = await response.body.text();
      outcome = response.statusCode;
      this.stats.request(kind, performance.now() - started, outcome, !options.expect.includes(outcome));
      let parsed: unknown = text;
      if (String(response.headers['content-type'] ?? '').includes('json') && text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: response.statusCode, outcome, body: parsed as T };
    } catch (error) {
      outcome = `network:${networkCode(error)}`;
      this.stats.request(kind, performance.now() - started, outcome, true);
      return { status: 0, outcome, body: undefined as T };
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** Closes at once, failing what is still outstanding. */
  async destroy(): Promise<void> {
    await this.#pool.destroy();
  }
}

function networkCode(error: unknown): string {
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError)
    return 'timeout';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code.replace(/^UND_ERR_/, '').toLowerCase();
  return (error as Error).name ?? 'error';
}
