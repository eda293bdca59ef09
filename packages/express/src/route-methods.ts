import type { Request } from 'express'

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

interface LayerLike {
  route?: { methods?: Record<string, boolean> }
  handle?: { stack?: unknown }
  path?: string
  match?: (path: string) => boolean | { path: string }
}

const MAX_DEPTH = 16
// More methods than any route lists by hand: a route for every method.
const ALL_METHODS_THRESHOLD = 16

/**
 * The methods the application's routes accept at the path of `req`, for a preflight's
 * `Access-Control-Allow-Methods`: each matching route's methods as declared, then `OPTIONS`
 * (the gate answers preflights) and `HEAD` (Express answers it for GET routes). The order is the
 * Fastify adapter's, so both adapters send the same header.
 *
 * A middleware cannot ask Express which routes exist, so this reads the router's stack (the
 * `stack` / `route` / `match` shape of Express 4 and 5). Anything unexpected gives `undefined`
 * and the caller falls back to `FALLBACK_METHODS`: only the CORS answer depends on it, never
 * whether a request is authenticated.
 */
export function routeMethods(req: Request): string[] | undefined {
  try {
    const app = req.app as unknown as { router?: { stack?: unknown }; _router?: { stack?: unknown } }
    // Express 5 has `app.router`; Express 4 `app._router`.
    const root = (app as { _router?: { stack?: unknown } })._router ?? app.router
    if (root === undefined || !Array.isArray(root.stack)) return undefined
    const methods: string[] = []
    const add = (method: string) => {
      if (!methods.includes(method)) methods.push(method)
    }
    collect(root.stack as LayerLike[], dispatchPath(req), 0, (route) => {
      const declared = Object.keys(route).filter((name) => route[name] === true)
      // `app.all()`: Express 4 marks it `_all`, Express 5 registers every method Node knows.
      if (declared.includes('_all') || declared.length > ALL_METHODS_THRESHOLD) FALLBACK_METHODS.forEach(add)
      else for (const name of declared) add(name.toUpperCase())
      add('OPTIONS')
      if (route.get === true) add('HEAD')
    })
    return methods.length === 0 ? undefined : methods
  } catch {
    return undefined
  }
}

function collect(
  stack: readonly LayerLike[],
  path: string,
  depth: number,
  onRoute: (methods: Record<string, boolean>) => void,
): void {
  if (depth > MAX_DEPTH) return
  for (const layer of stack) {
    if (typeof layer.match !== 'function') continue
    const matched = layer.match(path)
    if (matched === false) continue
    // Express 5 returns what matched; Express 4 returns true and keeps it on the layer.
    const prefix = typeof matched === 'object' ? matched.path : (layer.path ?? '')
    if (layer.route?.methods !== undefined) {
      onRoute(layer.route.methods)
      continue
    }
    const nested = layer.handle?.stack
    if (Array.isArray(nested)) {
      const rest = path.slice(prefix.length)
      collect(nested as LayerLike[], rest.startsWith('/') ? rest : `/${rest}`, depth + 1, onRoute)
    }
  }
}

/**
 * The path the Express router dispatches `req` on, from the root: `req.path` is the router's own
 * parse of the target (`parseurl`, Express 4 and 5), so a fragment (`/admin#.css`), the
 * absolute form (`http://host/admin`) and the query are dropped exactly as the router drops them,
 * and nothing is decoded or normalised that the router keeps. `req.baseUrl` adds back the mount
 * path of a middleware mounted under one. Whatever decides "public or protected" must look at
 * this path, never at the raw target (`req.originalUrl`).
 */
export function dispatchPath(req: Request): string {
  return `${req.baseUrl ?? ''}${req.path ?? ''}`
}
