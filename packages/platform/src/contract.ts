// The HTTP contract every service states in its OpenAPI document: besides the
// success responses a route declares with its zod schemas, each operation
// lists every problem (RFC 9457) it can answer with. Most come from the
// machinery every route shares, so they are derived here from what the route
// declares (a body, path parameters); the route adds only its own domain
// problems (`config.problems`). Pure functions of the route facts; server.ts
// collects the facts and serves the completed document.
import { z } from 'zod';

/** The problem+json body of every error (problems.ts renders it). */
export const problemDocument = z
  .object({
    type: z.url(),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional(),
  })
  .loose()
  .meta({ description: 'RFC 9457 problem details; `type` is a stable URI per kind of problem.' });

export const PROBLEM_SCHEMA_NAME = 'Problem';
const PROBLEM_REF = { $ref: `#/components/schemas/${PROBLEM_SCHEMA_NAME}` };

/** A problem a route's own logic may answer with, beyond those every route shares. */
export type ProblemDeclarations = Partial<Record<number, string>>;

/**
 * An OpenAPI link from one of a route's responses to the operation a client would
 * call next with values from it (what stateful tests follow): `operation` is
 * `METHOD /fastify/path/:param`; `parameters` and `requestBody` hold runtime
 * expressions such as `$response.body#/id`.
 */
export interface LinkDeclaration {
  operation: string;
  description?: string;
  parameters?: Record<string, string>;
  requestBody?: unknown;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Statuses (with what they mean here) this route's handler may answer besides the shared ones. */
    problems?: ProblemDeclarations;
    /** Links from a success status to the operations that follow it. */
    links?: Partial<Record<number, Record<string, LinkDeclaration>>>;
  }
}

/** What the contract needs to know about one route. */
export interface RouteFacts {
  method: string;
  /** Fastify's form: `/api/v1/orders/:id`. */
  url: string;
  hasParams: boolean;
  problems: ProblemDeclarations;
  links?: Partial<Record<number, Record<string, LinkDeclaration>>>;
}

/** Methods whose request bodies Fastify reads (and so may refuse as too large or of the wrong type). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'QUERY']);

const SHARED = {
  400: 'The request is malformed: a parameter, header or body field fails validation (each named in `errors`), the body is not JSON, or the URL cannot be decoded.',
  404: 'No such resource (or none that you may see).',
  413: 'The request body is larger than this endpoint accepts.',
  415: 'The request body is not `application/json`.',
  431: 'The request headers are larger than this API accepts.',
  503: 'A service this request needs is briefly unavailable, or this instance is shutting down; retry after `Retry-After` seconds.',
} as const;

/** Every problem status of a route with what it means: the shared ones, then the route's own. */
export function problemStatuses(route: RouteFacts): Map<number, string> {
  const statuses = new Map<number, string>([
    [400, SHARED[400]],
    [431, SHARED[431]],
    [503, SHARED[503]],
  ]);
  if (route.hasParams) {
    statuses.set(404, SHARED[404]);
  }
  if (BODY_METHODS.has(route.method)) {
    statuses.set(413, SHARED[413]);
    statuses.set(415, SHARED[415]);
  }
  for (const [status, description] of Object.entries(route.problems)) {
    if (description) statuses.set(Number(status), description);
  }
  return new Map([...statuses].sort(([a], [b]) => a - b));
}

/** Response headers a problem of this status always carries. */
const PROBLEM_HEADERS: Partial<Record<number, Record<string, { description: string; schema: object }>>> = {
  401: {
    'WWW-Authenticate': { description: 'The authentication scheme (`Bearer`).', schema: { type: 'string' } },
  },
  429: {
    'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } },
  },
  503: {
    'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } },
  },
};

/** An OpenAPI response object for a problem. */
export function problemResponse(status: number, description: string) {
  const headers = PROBLEM_HEADERS[status];
  return {
    description,
    ...(headers
      ? {
          headers: Object.fromEntries(
            Object.entries(headers).map(([name, header]) => [name, { ...header, required: true }]),
          ),
        }
      : {}),
    content: { 'application/problem+json': { schema: PROBLEM_REF } },
  };
}

/**
 * A `response` entry for a Server-Sent Events stream whose events carry JSON:
 * each event is documented as `{ event, data }` (the OpenAPI convention for
 * `text/event-stream`), `data` as JSON of the given schema, so clients and the
 * fuzzer check every event against the same zod declaration the route uses.
 */
export function eventStream(description: string, events: Record<string, z.ZodType>) {
  const eventSchemas = Object.entries(events).map(([event, data]) => {
    const { $schema: _dialect, ...contentSchema } = z.toJSONSchema(data, { io: 'output' });
    return z
      .object({
        event: z.literal(event),
        data: z.string().meta({ contentMediaType: 'application/json', contentSchema }),
      })
      .loose();
  });
  const [first, ...others] = eventSchemas;
  if (!first) throw new Error('an event stream needs at least one kind of event');
  return {
    description,
    content: { 'text/event-stream': { schema: others.length === 0 ? first : z.union([first, ...others]) } },
  };
}

/** `/api/v1/orders/:id` -> `/api/v1/orders/{id}` (what @fastify/swagger writes). */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are free-form JSON.
type Json = any;

/**
 * The document @fastify/swagger made from the routes' zod schemas, completed
 * with every operation's problem responses and the Problem schema they share.
 */
export function completeDocument(document: Json, routes: readonly RouteFacts[]): Json {
  const paths: Record<string, Record<string, Json>> = structuredClone(document.paths ?? {});
  for (const route of routes) {
    const operation = paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
    if (!operation) continue; // hidden (probes, metrics) or Fastify's implicit HEAD
    const responses: Record<string, Json> = { ...operation.responses };
    for (const [status, description] of problemStatuses(route)) {
      responses[String(status)] ??= problemResponse(status, description);
    }
    for (const [status, links] of Object.entries(route.links ?? {})) {
      if (!responses[status] || !links) continue;
      responses[status] = { ...responses[status], links: openApiLinks(links) };
    }
    operation.responses = responses;
  }
  return {
    ...document,
    paths,
    components: {
      ...document.components,
      schemas: {
        ...document.components?.schemas,
        [PROBLEM_SCHEMA_NAME]: problemJsonSchema(),
      },
    },
  };
}

function openApiLinks(links: Record<string, LinkDeclaration>): Json {
  return Object.fromEntries(
    Object.entries(links).map(([name, { operation, ...link }]) => {
      const [method = '', url = ''] = operation.split(' ');
      const pointer = openApiPath(url).replaceAll('~', '~0').replaceAll('/', '~1');
      return [name, { operationRef: `#/paths/${pointer}/${method.toLowerCase()}`, ...link }];
    }),
  );
}

function problemJsonSchema(): Json {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(problemDocument, { io: 'output' }) as Json;
  return schema;
}
