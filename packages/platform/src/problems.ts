// RFC 9457 problem details: the one shape every error leaves an HTTP API in.
// `type` is a stable URI per kind of problem that clients can match on.
import { STATUS_CODES } from 'node:http';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const PROBLEM_BASE = 'https://shop.example/problems/';

export interface FieldError {
  /** Where in the input, e.g. `items.0.quantity` or `querystring.limit`. */
  path: string;
  message: string;
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** An error that is meant for the client: thrown by handlers, rendered as problem+json. */
export class Problem extends Error {
  readonly type: string;
  constructor(
    readonly status: number,
    slug: string,
    readonly detail: string,
    readonly extensions: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      [key: string]: unknown;
    } = {},
  ) {
    super(detail);
    this.name = 'Problem';
    this.type = PROBLEM_BASE + slug;
  }

  get title(): string {
    return STATUS_CODES[this.status] ?? 'Error';
  }

  toDocument(instance?: string): ProblemDocument {
    const { headers: _headers, ...extensions } = this.extensions;
    return {
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.detail,
      ...(instance ? { instance } : {}),
      ...extensions,
    };
  }
}

export const problems = {
  badRequest: (detail: string, errors?: FieldError[]) =>
    new Problem(400, 'validation', detail, errors ? { errors } : {}),
  unauthorized: (detail = 'A valid bearer token is required.') =>
    new Problem(401, 'unauthorized', detail, { headers: { 'www-authenticate': 'Bearer' } }),
  forbidden: (detail = 'Your role does not allow this.') => new Problem(403, 'forbidden', detail),
  notFound: (detail = 'No such resource.') => new Problem(404, 'not-found', detail),
  conflict: (slug: string, detail: string) => new Problem(409, slug, detail),
  unprocessable: (slug: string, detail: string) => new Problem(422, slug, detail),
  unavailable: (detail: string) => new Problem(503, 'unavailable', detail),
};

export function problemTypeUri(slug: string): string {
  return PROBLEM_BASE + slug;
}
