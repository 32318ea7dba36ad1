// One proxied request: dispatched on the service's keep-alive undici pool, the
// answer streamed straight into the client's response. This is the hot path
// of the gateway, so it goes without the stream machinery of
// @fastify/reply-from (a Readable per response piped through Fastify's send,
// three URL parses and a query-string parse per request): measured in
// `make bench`, that cost more than the rest of the gateway together.
//
// Until the service's status line arrives nothing has been sent, so a failure
// becomes a problem+json answer through Fastify (`fail`). From then on the
// reply is the service's: Fastify hands the raw response over (hijack), keeps
// its onResponse hooks (access log, metrics, the request span), and the
// headers set so far in the request's hooks (request id, security, rate
// limit, CORS) go out with the service's own.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { clientResponseHeaders } from './forwarding.js';

type Headers = Record<string, string | string[] | number | undefined>;

export interface Forwarding {
  pool: Dispatcher;
  headers: Headers;
  /** The request failed before the service answered; nothing has been sent. */
  fail: (error: Error) => void;
  /** Sets `Connection: close` (the server is stopping: keep-alive clients must not hold it open). */
  closing?: boolean;
  /** For a read that may be answered stale (stale-read-fallback.ts). */
  fallback?: ForwardingFallback;
}

/** What a read with a fallback learns of its forwarding. */
export interface ForwardingFallback {
  /**
   * The service's status, before anything is sent. True takes the answer away from the client:
   * the forwarding stops and `fail` gets an UpstreamStatusError (the fallback answers instead).
   */
  divert(status: number): boolean;
  /** Most bytes of an answer worth keeping whole. */
  maxKeptBytes: number;
  /** A complete 200 answer as the client got it, to keep. */
  keep(headers: Headers, body: Buffer): void;
}

/** The service answered, but with a status a fallback answers better. */
export class UpstreamStatusError extends Error {
  constructor(readonly statusCode: number) {
    super(`the service answered ${statusCode}`);
  }
}

// A pooled keep-alive connection can be closed by the service just as a
// request goes out on it; a request that is safe to repeat gets one more try.
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

export function forward(request: FastifyRequest, reply: FastifyReply, forwarding: Forwarding): void {
  dispatch(request, reply, forwarding, SAFE.has(request.method));
}

function dispatch(
  request: FastifyRequest,
  reply: FastifyReply,
  forwarding: Forwarding,
  mayRetry: boolean,
): void {
  const response = reply.raw;
  const fallback = forwarding.fallback;
  let started = false;
  let ended = false;
  let diverted = false;
  // The answer as sent, when it may be kept for the fallback.
  let kept: Buffer[] | undefined;
  let keptBytes = 0;
  let keptHeaders: Headers | undefined;
  const body = request.body as Buffer | undefined;
  forwarding.pool.dispatch(
    {
      method: request.method as Dispatcher.HttpMethod,
      path: request.url,
      headers: forwarding.headers as Record<string, string>,
      ...(body === undefined ? {} : { body }),
    },
    {
      onRequestStart(controller) {
        // A client gone before the end: stop the service's side too.
        response.once('close', () => {
          if (!ended) controller.abort(new Error('the client closed the connection'));
        });
      },
      onResponseStart(controller, statusCode, headers) {
        if (fallback?.divert(statusCode)) {
          diverted = true;
          ended = true;
          controller.abort(new UpstreamStatusError(statusCode));
          forwarding.fail(new UpstreamStatusError(statusCode));
          return;
        }
        started = true;
        reply.hijack();
        const upstreamHeaders = clientResponseHeaders(headers as Headers);
        if (fallback && statusCode === 200) {
          kept = [];
          keptHeaders = upstreamHeaders;
        }
        const outgoing = { ...reply.getHeaders(), ...upstreamHeaders };
        if (forwarding.closing) outgoing.connection = 'close';
        try {
          response.writeHead(statusCode, outgoing as Record<string, string>);
        } catch (error) {
          // A header Node refuses to send: the answer cannot be passed on.
          controller.abort(error as Error);
          response.destroy();
        }
      },
      onResponseData(controller, chunk) {
        if (kept) {
          keptBytes += chunk.length;
          if (keptBytes <= fallback!.maxKeptBytes) kept.push(chunk);
          else kept = undefined;
        }
        if (!response.write(chunk)) {
          controller.pause();
          response.once('drain', () => controller.resume());
        }
      },
      onResponseEnd() {
        ended = true;
        response.end();
        if (kept) fallback!.keep(keptHeaders!, Buffer.concat(kept, keptBytes));
      },
      onResponseError(_controller, error) {
        if (diverted) return; // the abort above: the fallback has answered
        ended = true;
        if (started) {
          // Part of the answer is out: the client must see it broken, not complete.
          response.destroy(error);
        } else if (mayRetry && isStaleConnection(error) && !response.destroyed) {
          dispatch(request, reply, forwarding, false);
        } else {
          forwarding.fail(error);
        }
      },
    },
  );
}

function isStaleConnection(error: Error): boolean {
  const { code } = error as { code?: string };
  return code !== undefined && STALE_CONNECTION.has(code);
}
