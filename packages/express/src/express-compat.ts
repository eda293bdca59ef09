/**
 * The one place `@portcullis/express` reads Express internals. A middleware cannot ask Express
 * which routes exist at a path (for a preflight's `Access-Control-Allow-Methods`), so this reads
 * the router's layer stack, in the shape Express 4 and 5 share:
 * - the root router: `app._router` (Express 4) or `app.router` (Express 5);
 * - each layer: `match(path)`, `route.methods` for a route, `handle.stack` for a mounted router,
 *   `path` (Express 4 keeps what matched there; Express 5 returns it from `match`).
 * And it defines `req.auth` where every Express request inherits it (`exposeCaller`):
 * - each request's prototype: the app's `app.request`, which extends the Express copy's own
 *   request prototype (`express.request`), which extends Node's `IncomingMessage.prototype`.
 *
 * Pinned by `packages/express/test/express-compat.test.ts` against Express 4 and 5. Nothing here
 * decides whether a request is authenticated: when the shape is not found, the caller falls back
 * to a default list of methods, and the gate writes `req.auth` on each request.
 */
import { IncomingMessage } from 'node:http'
import { callerAccessor } from '@portcullis/core/adapter'

interface LayerLike {
  route?: { methods?: Record<string, boolean> }
  handle?: { stack?: unknown }
  path?: string
  match?: (path: string) => boolean | { path: string }
}

const MAX_DEPTH = 16

/** The layer stack of the application's root router, or `undefined` when not where Express 4 or 5 keeps it. */
export function rootRouterStack(app: unknown): readonly unknown[] | undefined {
  if (typeof app !== 'function' && (typeof app !== 'object' || app === null)) return undefined
  const routers = app as { _router?: { stack?: unknown }; router?: { stack?: unknown } }
  // Express 5 has `app.router`; Express 4 `app._router`, and an `app.router` getter that throws:
  // read in this order.
  const root = routers._router ?? routers.router
  return root !== undefined && root !== null && Array.isArray(root.stack) ? root.stack : undefined
}

/**
 * Calls `onRoute` with the declared methods (`{ get: true, ... }`, Express 4's `_all` for
 * `app.all()`) of every route whose layers match `path`, descending into mounted routers.
 * Returns `false` when the application's router is not where Express 4 or 5 keeps it.
 */
export function forEachRouteAt(
  app: unknown,
  path: string,
  onRoute: (methods: Record<string, boolean>) => void,
): boolean {
  const stack = rootRouterStack(app)
  if (stack === undefined) return false
  collect(stack as LayerLike[], path, 0, onRoute)
  return true
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
 * Defines `auth` as core's `callerAccessor` on the request prototype of the Express copy that
 * dispatched `req` (`express.request`: every app's requests inherit it, mounted apps' too), unless
 * something defines `auth` there already: `req.auth` then reads the caller the gate verified, with
 * no property added to each request. Returns whether it does (`false` for a request Express did
 * not dispatch, and where another `auth` is kept): then the gate writes `req.auth` on each request.
 */
export function exposeCaller(req: object): boolean {
  let proto: object | null = Object.getPrototypeOf(req)
  for (let depth = 0; proto !== null && depth < MAX_DEPTH; depth++) {
    const parent: object | null = Object.getPrototypeOf(proto)
    if (parent === IncomingMessage.prototype) {
      if (!Object.hasOwn(proto, 'auth')) Object.defineProperty(proto, 'auth', callerAccessor)
      // Whoever defined it, and whether anything between the request and here shadows it.
      return (
        Object.getOwnPropertyDescriptor(proto, 'auth')?.get === callerAccessor.get &&
        !shadowedBelow(req, proto)
      )
    }
    proto = parent
  }
  return false
}

/** Whether a prototype between `req` and `proto` defines its own `auth` (an app's `app.request`). */
function shadowedBelow(req: object, proto: object): boolean {
  for (let at = Object.getPrototypeOf(req); at !== null && at !== proto; at = Object.getPrototypeOf(at)) {
    if (Object.hasOwn(at, 'auth')) return true
  }
  return false
}
