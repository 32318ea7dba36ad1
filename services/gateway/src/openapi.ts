// One OpenAPI document for the whole public API, made from each service's own
// /openapi.json: their paths (only those the gateway routes to that service)
// and components, plus the bearer scheme, with public operations marked as
// needing no token and every operation completed with the problems the
// gateway itself answers (401, 429, 502-504). Merging is a pure function; the
// aggregator around it fetches, caches for a short while, and serves the last
// good copy of a service that is down (or leaves it out when it never had one).
// The methods each path declares are also what the gateway answers 405 from.
import {
  AllowedMethods,
  type Logger,
  PROBLEM_SCHEMA_NAME,
  problemDocument,
  problemResponse,
} from '@shop/platform';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { policyFor, staleReadable, type Upstream } from './routes.js';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are free-form JSON.
type Json = any;

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string; [key: string]: unknown };
  paths?: Record<string, Record<string, Json>>;
  components?: Record<string, Record<string, Json>>;
  tags?: { name: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

export type SourceState = 'fresh' | 'stale' | 'unavailable';

export interface Source {
  upstream: Upstream;
  prefixes: string[];
  document: OpenApiDocument | undefined;
  state: SourceState;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
export const BEARER_SCHEME = 'bearerAuth';

/** What the gateway itself may answer on any proxied operation, before or instead of the service. */
const GATEWAY_PROBLEMS: Record<number, string> = {
  429: 'Too many requests from this user or address; retry after `Retry-After` seconds.',
  502: 'The service behind this operation failed to answer.',
  503: 'The service behind this operation (or the check of access tokens) is briefly unavailable; retry after `Retry-After` seconds.',
  504: 'The service behind this operation did not answer in time.',
};
const UNAUTHORIZED =
  'No valid access token: missing, malformed, expired, or of a deleted account (`WWW-Authenticate` says which).';

export function mergeOpenApi(sources: Source[], info: OpenApiDocument['info']): OpenApiDocument {
  const paths: Record<string, Record<string, Json>> = {};
  const components: Record<string, Record<string, Json>> = {};
  const tags = new Map<string, { name: string }>();

  for (const source of sources) {
    const document = source.document;
    if (!document) continue;
    const renames = componentRenames(source.upstream, document.components ?? {}, components);
    const own = renames.size > 0 ? rewriteRefs(document, renames) : document;

    for (const [type, entries] of Object.entries(own.components ?? {})) {
      components[type] ??= {};
      const target = components[type];
      for (const [name, value] of Object.entries(entries ?? {})) {
        target[renames.get(`#/components/${type}/${name}`)?.split('/').pop() ?? name] = value;
      }
    }
    for (const [path, item] of Object.entries(own.paths ?? {})) {
      if (!source.prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) continue;
      if (paths[path]) continue; // routed to one service only, so this would be a stray copy
      paths[path] = markStaleReads(path, withGatewayProblems(path, item));
    }
    for (const tag of own.tags ?? []) if (!tags.has(tag.name)) tags.set(tag.name, tag);
  }

  components.schemas = {
    ...components.schemas,
    [PROBLEM_SCHEMA_NAME]: problemJsonSchema,
  };
  components.securitySchemes = {
    ...components.securitySchemes,
    [BEARER_SCHEME]: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'The access token from POST /api/v1/auth/login.',
    },
  };

  return {
    openapi: '3.1.0',
    info,
    paths,
    components,
    ...(tags.size > 0 ? { tags: [...tags.values()] } : {}),
    security: [{ [BEARER_SCHEME]: [] }],
    'x-upstreams': Object.fromEntries(sources.map((source) => [source.upstream, source.state])),
  };
}

/** What a read answered from the gateway's kept answers carries (stale-read-fallback.ts). */
const STALE_HEADERS = {
  Age: {
    description:
      'Only on an answer the gateway kept and serves because inventory cannot answer: its age in seconds (at most STALE_READ_MAX_AGE, 5 minutes by default).',
    schema: { type: 'integer', minimum: 0 },
  },
  'Cache-Status': {
    description:
      'Only on such a stale answer (RFC 9211): `shop-gateway; hit; ttl=-<age>; [fwd-status=<status>;] detail="<why inventory was not used>"`.',
    schema: { type: 'string' },
  },
};

/** Reads that may be answered stale declare the headers that mark such an answer on their 200. */
function markStaleReads(path: string, item: Record<string, Json>): Record<string, Json> {
  const get = item.get as { responses?: Record<string, { headers?: Record<string, Json> }> } | undefined;
  const ok = get?.responses?.['200'];
  // A referenced response is shared with other operations: it is left as it is.
  if (!ok || '$ref' in ok || !staleReadable('GET', path.replace(/\{[^}]+\}/g, 'x'))) return item;
  return {
    ...item,
    get: {
      ...get,
      responses: { ...get.responses, 200: { ...ok, headers: { ...ok.headers, ...STALE_HEADERS } } },
    },
  };
}

const { $schema: _dialect, ...problemJsonSchema } = z.toJSONSchema(problemDocument, { io: 'output' });

/**
 * Public operations say so with an empty security requirement; the others may
 * be refused with 401. Every operation may meet the rate limit or a failing
 * service.
 */
function withGatewayProblems(path: string, item: Record<string, Json>): Record<string, Json> {
  const concrete = path.replace(/\{[^}]+\}/g, 'x');
  const result: Record<string, Json> = {};
  for (const [key, value] of Object.entries(item)) {
    if (!METHODS.includes(key)) {
      result[key] = value;
      continue;
    }
    const isPublic = policyFor(key.toUpperCase(), concrete).public;
    const responses: Record<string, Json> = { ...value.responses };
    if (!isPublic) responses['401'] ??= problemResponse(401, UNAUTHORIZED);
    for (const [status, description] of Object.entries(GATEWAY_PROBLEMS)) {
      responses[status] ??= problemResponse(Number(status), description);
    }
    result[key] = {
      ...value,
      responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
      ...(isPublic ? { security: [] } : {}),
    };
  }
  return result;
}

/** The methods each path of a document declares, to answer any other with 405. */
export function methodIndex(document: OpenApiDocument): AllowedMethods {
  const index = new AllowedMethods();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    const route = path.replace(/\{([^}]+)\}/g, ':$1');
    for (const method of Object.keys(item)) {
      if (METHODS.includes(method)) index.add(method, route);
    }
  }
  return index;
}

/** Components whose name is taken by a different definition are renamed `<upstream>_<name>`. */
function componentRenames(
  upstream: string,
  incoming: Record<string, Record<string, Json>>,
  merged: Record<string, Record<string, Json>>,
): Map<string, string> {
  const renames = new Map<string, string>();
  for (const [type, entries] of Object.entries(incoming)) {
    for (const [name, value] of Object.entries(entries ?? {})) {
      const existing = merged[type]?.[name];
      if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(value)) {
        renames.set(`#/components/${type}/${name}`, `#/components/${type}/${upstream}_${name}`);
      }
    }
  }
  return renames;
}

function rewriteRefs<T>(value: T, renames: Map<string, string>): T {
  if (Array.isArray(value)) return value.map((item) => rewriteRefs(item, renames)) as T;
  if (value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    result[key] =
      key === '$ref' && typeof item === 'string' ? (renames.get(item) ?? item) : rewriteRefs(item, renames);
  }
  return result as T;
}

export interface AggregatorSource {
  upstream: Upstream;
  prefixes: string[];
  /** Where to GET /openapi.json from (the proxy's keep-alive pool for that service). */
  dispatcher: Dispatcher;
}

export interface AggregatorOptions {
  sources: AggregatorSource[];
  info: OpenApiDocument['info'];
  ttlMs: number;
  timeoutMs?: number;
  logger: Logger;
  now?: () => number;
}

export class OpenApiAggregator {
  readonly #options: AggregatorOptions & { timeoutMs: number; now: () => number };
  readonly #last = new Map<Upstream, OpenApiDocument>();
  #cached: { document: OpenApiDocument; methods: AllowedMethods; at: number } | undefined;
  #refreshing: Promise<OpenApiDocument> | undefined;

  constructor(options: AggregatorOptions) {
    this.#options = { timeoutMs: 2000, now: Date.now, ...options };
  }

  /** The merged document; a stale one is served at once while a fresh one is made. */
  async document(): Promise<OpenApiDocument> {
    const cached = this.#cached;
    if (cached && this.#options.now() - cached.at < this.#options.ttlMs) return cached.document;
    const refreshing = this.#refresh();
    if (!cached) return refreshing;
    refreshing.catch(() => undefined); // #build reports its own failures
    return cached.document;
  }

  /** The last merged document, if any (for the docs page, which asks synchronously). */
  current(): OpenApiDocument | undefined {
    return this.#cached?.document;
  }

  /**
   * The methods the last merged document declares at `path` (HEAD wherever GET is), or
   * undefined when it has no such path or there is no document yet. Synchronous, for every
   * request; an expired document is refreshed in the background.
   */
  allowedMethodsAt(path: string): string[] | undefined {
    const cached = this.#cached;
    if (!cached || this.#options.now() - cached.at >= this.#options.ttlMs) {
      this.#refresh().catch(() => undefined); // #build reports its own failures
    }
    return cached?.methods.at(path);
  }

  #refresh(): Promise<OpenApiDocument> {
    this.#refreshing ??= this.#build().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #build(): Promise<OpenApiDocument> {
    const sources = await Promise.all(
      this.#options.sources.map(async (source): Promise<Source> => {
        try {
          const document = await this.#fetch(source.dispatcher);
          this.#last.set(source.upstream, document);
          return { upstream: source.upstream, prefixes: source.prefixes, document, state: 'fresh' };
        } catch (error) {
          this.#options.logger.warn(
            { upstream: source.upstream, err: error },
            'could not fetch an OpenAPI document; serving the last one',
          );
          const last = this.#last.get(source.upstream);
          return {
            upstream: source.upstream,
            prefixes: source.prefixes,
            document: last,
            state: last ? 'stale' : 'unavailable',
          };
        }
      }),
    );
    const document = mergeOpenApi(sources, this.#options.info);
    this.#cached = { document, methods: methodIndex(document), at: this.#options.now() };
    return document;
  }

  async #fetch(dispatcher: Dispatcher): Promise<OpenApiDocument> {
    const response = await dispatcher.request({
      method: 'GET',
      path: '/openapi.json',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`GET /openapi.json answered ${response.statusCode}`);
    }
    const document = (await response.body.json()) as OpenApiDocument;
    if (typeof document !== 'object' || document === null || typeof document.paths !== 'object') {
      throw new Error('GET /openapi.json did not return an OpenAPI document');
    }
    return document;
  }
}
