// The Fastify factory every service starts from: zod schemas on routes, request
// ids, problem+json for every error, a body limit, health and metrics endpoints.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { fastifyRequestContext } from '@fastify/request-context';
import fastifySwagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { AllowedMethods } from './allowed-methods.js';
import { completeDocument, type RouteFacts } from './contract.js';
import { Readiness } from './health.js';
import type { Logger } from './logging.js';
import { createRegistry, Histogram, type Registry } from './metrics.js';
import { nulFields } from './nul-guard.js';
import { type FieldError, PROBLEM_CONTENT_TYPE, Problem, problems } from './problems.js';
import { isTransientInfrastructureError } from './retry-policy.js';

export interface ServerOptions {
  name: string;
  logger: Logger;
  bodyLimit?: number;
  /** Per-check deadline of /health/ready. */
  readinessTimeoutMs?: number;
  /** Requests to these URL prefixes are not logged (probes, scrapes). */
  quietPaths?: RegExp;
  /** The registry /metrics serves; created for the app when not given (pass one to share it with code built before the app). */
  metrics?: Registry;
  /**
   * Publish an OpenAPI document of the routes at /openapi.json: generated from their zod
   * schemas, with every problem each can answer (contract.ts).
   */
  openapi?: { title: string; version: string; description?: string };
  /**
   * The methods served at a path by something other than this app's own routes (the
   * gateway's proxied API), for 405 answers; undefined for a path it does not know.
   */
  allowedMethodsAt?: (path: string) => readonly string[] | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness;
    metrics: Registry;
  }
}

const REQUEST_ID = /^[\w.:@/-]{1,128}$/;
const QUIET = /^\/(health\/|metrics)/;

export function createServer(options: ServerOptions) {
  const quiet = options.quietPaths ?? QUIET;
  const app = Fastify({
    // Typed as Fastify's logger so the instance fits every FastifyInstance parameter.
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1_048_576,
    // One access-log line per request is written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    // A client's own id is kept when it is a sane token, so one id follows a request across services.
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // Idle keep-alive sockets would otherwise hold a closing server open until they time out.
    forceCloseConnections: 'idle',
    // A `__proto__` or `constructor.prototype` key is dropped, like any other key the schema
    // does not name, rather than refusing a body the published schema allows.
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
    // A closing server serves what still reaches it, with Connection: close (the onRequest hook below).
    return503OnClosing: false,
    // Malformed requests and oversized headers never reach a route: answer them as problems too.
    clientErrorHandler,
    // The router's own refusals (a path parameter longer than it matches, an
    // undecodable URL) would otherwise answer in Fastify's JSON, not problem+json.
    frameworkErrors: (error, request, reply) => {
      sendProblem(request, reply, frameworkProblem(error));
    },
  }).withTypeProvider<ZodTypeProvider>();

  // Every route as it is added: its methods for 405 answers, its facts for the OpenAPI document.
  const allowedMethods = new AllowedMethods();
  const contractRoutes: RouteFacts[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      allowedMethods.add(method, route.url);
      if (route.schema?.hide) continue;
      contractRoutes.push({
        method,
        url: route.url,
        hasParams: /[:*]/.test(route.url),
        problems: route.config?.problems ?? {},
        links: route.config?.links ?? {},
      });
    }
  });

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // A request that reaches a closing server (on a keep-alive connection it had
  // not yet closed) is served, not refused: the close waits for it, everything
  // it needs runs until then, and its connection closes after the answer. A
  // refusal would be a failed request for a client that did nothing wrong
  // (measured: one 503 in a pod's SIGTERM drain under load, through the gateway).
  app.addHook('onRequest', (_request, reply, done) => {
    app.traffic.lastRequestAt = Date.now();
    if (closing) reply.header('connection', 'close');
    done();
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // The request id (and, once authenticated, the user) follow the request across awaits.
  app.register(fastifyRequestContext, { defaultStoreValues: (request) => ({ requestId: request.id }) });
  app.decorate('readiness', new Readiness(options.readinessTimeoutMs));
  app.decorate('metrics', options.metrics ?? createRegistry(options.name));

  const httpDuration = new Histogram({
    name: 'http_server_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route and status.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [app.metrics],
  });

  // Hooks below take callbacks, not promises: every request runs them.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  // After the route's schema: a NUL or a lone surrogate in a field the schema let through would
  // fail in Postgres (nul-guard.ts). Fields the schema drops are not checked: they go nowhere. A field that
  // takes text declares it without NUL (contracts' text()), so this refuses nothing the
  // published schema allows; it is the net under a field declared without it.
  app.addHook('preHandler', (request, _reply, done) => {
    const errors = [
      ...nulFields(request.params, 'params'),
      ...nulFields(request.query, 'querystring'),
      ...nulFields(request.body, 'body'),
    ];
    done(
      errors.length === 0
        ? undefined
        : problems.badRequest(
            'The request contains text no field can hold: a NUL character (U+0000) or a lone UTF-16 surrogate.',
            errors,
          ),
    );
  });

  // While stopping, in-flight responses close their connection, so a keep-alive
  // client cannot hold the server open past its last response; and so while the
  // active Service selects the other color (traffic-selection.ts).
  app.decorate('traffic', { selected: true, lastRequestAt: 0 });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (app.readiness.shuttingDown || !app.traffic.selected) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const elapsedMs = reply.elapsedTime;
    httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      elapsedMs / 1000,
    );
    if (!quiet.test(request.url)) {
      request.log.info(
        {
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          durationMs: Math.round(elapsedMs * 10) / 10,
        },
        'request completed',
      );
    }
    done();
  });

  // A path served with other methods answers 405, decided before the body is read (a QUERY
  // or DELETE with no content type would otherwise be refused for that first).
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done();
    const path = request.url.split('?')[0] ?? '/';
    const allow = options.allowedMethodsAt?.(path) ?? allowedMethods.at(path);
    if (!allow || allow.includes(request.method)) return done();
    sendProblem(request, reply, methodNotAllowed(request.method, path, allow));
  });

  app.setNotFoundHandler((request, reply) => {
    sendProblem(
      request,
      reply,
      problems.notFound(`No route ${request.method} ${request.url.split('?')[0]}.`),
    );
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    sendProblem(request, reply, toProblem(error, request));
  });

  if (options.openapi) {
    app.register(fastifySwagger, {
      openapi: { openapi: '3.1.0', info: options.openapi },
      transform: jsonSchemaTransform,
      hideUntagged: false,
    });
    let document: unknown;
    app.get('/openapi.json', { schema: { hide: true }, logLevel: 'warn' }, async () => {
      document ??= completeDocument(app.swagger(), contractRoutes);
      return document;
    });
  }

  app.get('/health/live', { schema: { hide: true }, logLevel: 'warn' }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const report = await app.readiness.report();
    reply.code(report.status === 'ready' ? 200 : 503);
    return report;
  });

  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    reply.type(app.metrics.contentType);
    return app.metrics.metrics();
  });

  return app;
}

export type ShopServer = ReturnType<typeof createServer>;

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): void {
  for (const [name, value] of Object.entries(problem.extensions.headers ?? {})) reply.header(name, value);
  // The contract promises every 429 and 503 says when to come back.
  if ((problem.status === 429 || problem.status === 503) && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', '2');
  }
  reply
    .code(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...problem.toDocument(request.url.split('?')[0]), requestId: request.id });
}

/** 405 for a method the path is not served with; `Allow` lists those it is (RFC 9110 15.5.6). */
export function methodNotAllowed(method: string, path: string, allow: readonly string[]): Problem {
  return new Problem(
    405,
    'method-not-allowed',
    `${method} is not served at ${path}; it serves ${allow.join(', ')}.`,
    { headers: { allow: allow.join(', ') } },
  );
}

// Requests Node's HTTP parser refuses (oversized headers, malformed request
// lines) never reach Fastify's routing; answer them as problems all the same.
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, slug, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers-too-large', 'The request headers are larger than this API accepts.']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request-timeout', 'The request was not received in time.']
        : [400, 'malformed-request', 'The request is not valid HTTP.'];
  const body = JSON.stringify(new Problem(status, slug, detail).toDocument());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

function frameworkProblem(error: FastifyError): Problem {
  // A path parameter longer than the router keeps (100 characters) is longer than any the
  // API's schemas allow (ids, SKUs): a request that violates the schema, 400 like every other.
  // Not 414, which says the whole URI is too long, and which schema-based clients (and
  // schemathesis) do not count as a refusal of invalid input.
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return problems.badRequest('A path parameter is longer than any this API accepts.', [
      { path: 'params', message: 'longer than any this API accepts' },
    ]);
  }
  return problems.badRequest(`The URL is not valid: ${error.message}`);
}

function toProblem(error: FastifyError, request: FastifyRequest): Problem {
  if (error instanceof Problem) return error;

  if (hasZodFastifySchemaValidationErrors(error) || error.validation) {
    const location = error.validationContext ?? 'body';
    const errors: FieldError[] = (error.validation ?? []).map((issue) => ({
      path: [location, ...issue.instancePath.split('/').filter(Boolean)].join('.'),
      message: issue.message ?? 'is invalid',
    }));
    return problems.badRequest(`The request ${location} is invalid.`, errors);
  }

  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new Problem(
        415,
        'unsupported-media-type',
        `Content type ${request.headers['content-type'] ?? '(none)'} is not supported; send application/json.`,
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new Problem(413, 'payload-too-large', 'The request body is larger than this endpoint accepts.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problems.badRequest(`The request body is not valid JSON: ${error.message}`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problems.badRequest('The Content-Length header does not match the body.');
  }

  const status = error.statusCode ?? 500;
  if (status === 429) {
    return new Problem(429, 'rate-limited', error.message || 'Too many requests; slow down and retry later.');
  }
  if (status >= 400 && status < 500) {
    return new Problem(status, 'client-error', error.message);
  }

  // A database or broker that is restarting is a passing fault: say so, and when to retry,
  // rather than a 500 that a client would treat as a bug.
  if (isTransientInfrastructureError(error)) {
    request.log.warn({ err: error }, 'dependency unavailable');
    return new Problem(
      503,
      'unavailable',
      'A service this request needs is briefly unavailable; retry shortly.',
      {
        headers: { 'retry-after': '2' },
      },
    );
  }

  request.log.error({ err: error }, 'unhandled error');
  return new Problem(
    500,
    'internal',
    `Something went wrong on our side. Retry later; if it persists, report request id ${request.id}.`,
  );
}
