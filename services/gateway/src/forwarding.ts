// What crosses the gateway. Towards a service: the client's headers minus the
// ones that are hop-by-hop or that a service could mistake for something the
// gateway vouches for; then the gateway's own Authorization (a service token),
// request id and client address. Back to the client: the service's headers
// minus the hop-by-hop ones. Upstream failures become problems, never an empty
// or HTML error.
import { Problem } from '@shop/platform';
import { pathOf } from './routes.js';

type Headers = Record<string, string | string[] | number | undefined>;

const DROPPED_REQUEST_HEADERS = new Set([
  // Replaced by the gateway.
  'authorization',
  'x-request-id',
  'x-forwarded-for',
  // Hop-by-hop (RFC 9110 §7.6.1) and headers undici refuses to send.
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'expect',
  // Trace context is the gateway's span (the undici instrumentation injects it);
  // a client's copy would sit next to it.
  'traceparent',
  'tracestate',
  'baggage',
  // Claims about the client or the caller that only infrastructure may make.
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
]);

/** Headers a service might read as identity or routing facts: never taken from a client. */
const DROPPED_REQUEST_PREFIXES =
  /^(x-forwarded-|x-original-|x-user|x-auth|x-internal|x-service|x-caller|x-gateway|x-shop-|x-envoy-)/;

export interface Forwarded {
  authorization: string;
  requestId: string;
  clientIp: string;
}

export function upstreamRequestHeaders(incoming: Headers, forwarded: Forwarded): Headers {
  const headers: Headers = {};
  for (const name in incoming) {
    if (DROPPED_REQUEST_HEADERS.has(name) || DROPPED_REQUEST_PREFIXES.test(name)) continue;
    headers[name] = incoming[name];
  }
  headers.authorization = forwarded.authorization;
  headers['x-request-id'] = forwarded.requestId;
  headers['x-forwarded-for'] = forwarded.clientIp;
  return headers;
}

const DROPPED_RESPONSE_HEADERS = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/** Mutates and returns the upstream's response headers. */
export function clientResponseHeaders<H extends Headers>(headers: H): H {
  for (const name of DROPPED_RESPONSE_HEADERS) delete headers[name];
  return headers;
}

/**
 * True when the path, decoded as a service's router would decode it, has a
 * `..` segment (a way out of the prefix the request was routed by), or cannot
 * be decoded at all.
 */
export function leavesPrefix(url: string): boolean {
  const path = pathOf(url);
  if (!/[.%\\]/.test(path)) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return true;
  }
  return decoded.replaceAll('\\', '/').split('/').includes('..');
}

export type UpstreamFailure = 'unavailable' | 'timeout' | 'bad-gateway';

const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') codes.push(code);
    current = cause;
  }
  return codes;
}

/** Classifies an error of the forwarding (undici's, or one wrapping it in `cause`). */
export function upstreamFailure(error: unknown): UpstreamFailure {
  const codes = codesOf(error);
  if (codes.some((code) => UNAVAILABLE.has(code))) return 'unavailable';
  if (codes.some((code) => TIMEOUT.has(code))) return 'timeout';
  const status = (error as { statusCode?: unknown }).statusCode;
  if (status === 503) return 'unavailable';
  if (status === 504) return 'timeout';
  return 'bad-gateway';
}

export function upstreamProblem(upstream: string, failure: UpstreamFailure): Problem {
  switch (failure) {
    case 'unavailable':
      return new Problem(
        503,
        'upstream-unavailable',
        `The ${upstream} service is unavailable; retry later.`,
        {
          headers: { 'retry-after': '5' },
        },
      );
    case 'timeout':
      return new Problem(504, 'upstream-timeout', `The ${upstream} service did not answer in time.`);
    case 'bad-gateway':
      return new Problem(502, 'bad-gateway', `The ${upstream} service failed to answer.`);
  }
}
