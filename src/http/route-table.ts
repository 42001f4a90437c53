/**
 * The routes a server has, by path pattern, so a request for a known path
 * with a method it does not serve can be answered `405` with an `Allow`
 * header instead of `404` (docs/architecture.md §14.2). Filled from
 * Fastify's `onRoute` hook; patterns are Fastify's (`/a/:id`, `/files/*`).
 */
export class RouteTable {
  readonly #routes: { readonly pattern: RegExp; readonly method: string; readonly visible: () => boolean }[] = [];

  /**
   * Records `method` on `url`. `visible` says whether the route is served
   * at the moment a request asks (an admin route is not while admin is
   * disabled), so a disabled route is never offered in `Allow`.
   */
  add(method: string, url: string, visible: () => boolean = () => true): void {
    this.#routes.push({ pattern: patternOf(url), method: method.toUpperCase(), visible });
  }

  /** The methods served on `path` (no query string), sorted; empty when the path is unknown. */
  methodsOn(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.#routes) if (route.pattern.test(path) && route.visible()) methods.add(route.method);
    return [...methods].sort();
  }
}

/** A Fastify path pattern as a regular expression: `:param` is one segment, `*` the rest. */
function patternOf(url: string): RegExp {
  const parts = url.split(/(:[A-Za-z0-9_]+|\*)/).map((part) => {
    if (part === '*') return '.*';
    if (part.startsWith(':')) return '[^/]+';
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('')}$`);
}
