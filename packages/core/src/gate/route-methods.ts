// The methods a path's routes accept, for a preflight's `Access-Control-Allow-Methods` and an
// OPTIONS answer's `Allow`: one rule for both adapters, which feed it what their framework knows
// (Fastify each route as it is added; Express the routes its router matches, when a preflight comes).

/** Methods a preflight allows when the routes of a path cannot be found (the `cors` package's default). */
export const FALLBACK_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'PUT',
  'PATCH',
  'POST',
  'DELETE',
  'OPTIONS',
]

// More methods than any route lists by hand: a route for every method (Express 5's `app.all()`
// registers every method Node knows, Fastify's `all` every method it supports).
const ALL_METHODS_THRESHOLD = 16

/**
 * Adds one route's methods to `methods` (a path's list so far, in order, without repeats): the
 * route's methods as declared (upper case), then `OPTIONS` (the gate answers preflights), then
 * `HEAD` for a `GET` route when `headForGet` (the framework answers it without a route of its own;
 * Fastify adds its HEAD routes itself). A catch-all route (`catchAll`, or more methods than any
 * route lists by hand) gives `FALLBACK_METHODS`.
 *
 * @example
 * const methods: string[] = []
 * addRouteMethods(methods, ['get'])
 * addRouteMethods(methods, ['POST'])
 * methods // ['GET', 'OPTIONS', 'HEAD', 'POST']
 */
export function addRouteMethods(
  methods: string[],
  declared: readonly string[],
  catchAll = false,
  headForGet = true,
): void {
  const add = (method: string) => {
    if (!methods.includes(method)) methods.push(method)
  }
  if (catchAll || declared.length > ALL_METHODS_THRESHOLD) FALLBACK_METHODS.forEach(add)
  else for (const name of declared) add(name.toUpperCase())
  add('OPTIONS')
  if (headForGet && methods.includes('GET')) add('HEAD')
}

/**
 * The methods of each path, kept as the framework adds its routes (Fastify's `onRoute`): each
 * path's list by `addRouteMethods`, and whether the path has an OPTIONS route yet.
 */
export class RouteMethodsBook {
  readonly #byPath = new Map<string, string[]>()

  /**
   * Adds a route's methods at `path`. Returns the path's list (kept up to date as routes are
   * added) when the path had no OPTIONS route so far, for the adapter to add one (a preflight must
   * reach the gate); `undefined` once it has one (declared, or added: this route).
   */
  add(path: string, declared: readonly string[], headForGet: boolean): readonly string[] | undefined {
    const methods = this.#byPath.get(path) ?? []
    this.#byPath.set(path, methods)
    const routed = methods.includes('OPTIONS') || declared.includes('OPTIONS')
    addRouteMethods(methods, declared, false, headForGet)
    return routed ? undefined : methods
  }

  /** The methods of the routes added at `path`, if any. */
  at(path: string): readonly string[] | undefined {
    return this.#byPath.get(path)
  }
}
