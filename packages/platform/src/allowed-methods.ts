// Which methods a path is served with, for answering a method the path does
// not serve with 405 and an `Allow` header (RFC 9110 15.5.6) instead of 404.
// Fed with every route as it is added, so a route added later counts at once.
import FindMyWay, { type HTTPMethod } from 'find-my-way';

const noop = () => undefined;

export class AllowedMethods {
  readonly #router = FindMyWay();
  readonly #methods = new Set<HTTPMethod>();

  add(name: string, url: string): void {
    // A route for every path (CORS preflights' `OPTIONS *`) says nothing about any one path.
    if (url === '*' || url === '/*') return;
    const method = name.toUpperCase() as HTTPMethod;
    if (this.#router.hasRoute(method, url)) return;
    this.#router.on(method, url, noop);
    this.#methods.add(method);
  }

  /** The methods served at `path` (HEAD wherever GET is), or undefined when no route matches it. */
  at(path: string): string[] | undefined {
    const allowed = [...this.#methods].filter((method) => this.#router.find(method, path) !== null);
    if (allowed.length === 0) return undefined;
    return withHead(allowed);
  }
}

/** HEAD is served wherever GET is (Fastify's exposeHeadRoutes). */
export function withHead(methods: readonly string[]): string[] {
  const all = new Set(methods.map((method) => method.toUpperCase()));
  if (all.has('GET')) all.add('HEAD');
  return [...all].sort();
}
