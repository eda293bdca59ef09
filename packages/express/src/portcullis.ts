import type { AuditEvent, Gate, GateHealth, GateOptions, RejectionLog } from '@portcullis/core'
import {
  type AdapterOptions,
  adapterOptionsShape,
  answerPreflight,
  type GateBinding as CoreGateBinding,
  gateFromAdapterOptions,
  keepBinding,
  printKeySetEvents,
  publicOptionSchema,
  publicPathMatcher,
  rememberGate,
  reportKeySetEventsOnce,
  sendMetadata,
} from '@portcullis/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { exposeCaller } from './express-compat.js'
import { guard, OWNER, type RequireScopesArgs, reportFailures, requirementOf, scopeGuard } from './guard.js'
import { dispatchPath, routeMethods } from './route-methods.js'

/** Where rejections are reported. `req` is the rejected request (never log its headers: they hold the token). */
export type RejectionListener = (event: RejectionLog, req: Request) => void

/** Where audit events go, with the request they decide (never log its headers: they hold the token). */
export type AuditListener = (event: AuditEvent, req: Request) => void

/** A gate as a request meets it: the gate and where its middleware reports. */
export type GateBinding = CoreGateBinding<Request>

/** Options of the middleware that are not options of the gate: those of both adapters, and `public`. */
export interface PortcullisMiddlewareOptions extends AdapterOptions<Request> {
  /**
   * Requests that need no token (Fastify: `config: { public: true }`): exact paths (`'/health'`),
   * regular expressions, or a function of the request. Paths see the path the router dispatches on
   * (`req.baseUrl + req.path`: no query or fragment, nothing decoded), compared as written (case,
   * trailing slash). Their `req.auth` stays `undefined`.
   */
  public?: ReadonlyArray<string | RegExp> | ((req: Request) => boolean)
}

/** Middleware options: the gate's options (or a gate made with `createGate`), plus the middleware's own. */
export type PortcullisOptions = (GateOptions | { gate: Gate }) & PortcullisMiddlewareOptions

/** The middleware `portcullis()` returns, with the pieces to mount elsewhere. */
export interface PortcullisMiddleware extends RequestHandler {
  /** The request pipeline of the protected resource (Fastify: `app.gate`). */
  readonly gate: Gate
  /** Serves only the metadata document; mount it at the root when the middleware is not. */
  readonly metadata: RequestHandler
  /** `protect()` and `requireScopes()` bound to this gate: for apps with several protected resources. */
  protect(): RequestHandler
  requireScopes(...scopes: RequireScopesArgs): RequestHandler
  /** `gate.health()`: key sets, introspection and deny list as last seen, for a readiness route. */
  health(): GateHealth
}

const middlewareOptionsShape = {
  ...adapterOptionsShape,
  public: publicOptionSchema<(req: Request) => boolean>(),
}

/**
 * Makes an Express app an OAuth 2.1 protected resource (MCP authorization, RFC 6750, RFC 9728):
 * `req.auth` or a 401/400/503 challenge, the metadata document, CORS, key set outages reported;
 * `requireScopes(...)` per route. Mount it at the root, before the routes. See the README.
 *
 * @example
 * app.use(portcullis({ resource, authorizationServers: [issuer], verifier, public: ['/health'] }))
 * app.get('/reports', requireScopes('reports:read'), (req, res) => res.json(verifiedAuth(req).extra.sub))
 */
export function portcullis(options: PortcullisOptions): PortcullisMiddleware {
  const { gate, own } = gateFromAdapterOptions(options, OWNER, middlewareOptionsShape)
  const binding: GateBinding = { gate, onRejection: own.onRejection ?? reportFailures, onAudit: own.onAudit }
  // Express has no shutdown hook to unsubscribe in: each listener once for the process.
  reportKeySetEventsOnce(undefined, own.onKeySetEvent, printKeySetEvents(OWNER))
  const gateAll = (own.routes ?? 'all') === 'all'
  const serveMetadata = own.metadataRoutes ?? true
  const metadataPaths = new Set(gate.metadataPaths)
  // The path Express dispatches on is part of req.url as sent: a URL without the metadata paths'
  // common start names none of them, decided without req.path's parse.
  const metadataMarker = commonStart(gate.metadataPaths)
  const isPublic = publicMatcher(own.public)
  let exposedFor: unknown
  let callerExposed = false

  const metadata: RequestHandler = function portcullisMetadata(req, res, next) {
    if (!metadataPaths.has(dispatchPath(req))) return next()
    sendMetadata(gate, req.method, res)
  }

  const middleware = function portcullisGate(req: Request, res: Response, next: NextFunction) {
    if (serveMetadata) {
      if (req.baseUrl !== '') return next(mountedUnderPath(req.baseUrl, gate))
      // Mounted at the root: the dispatch path is req.path, no concatenation per request.
      if (req.url.includes(metadataMarker) && metadataPaths.has(req.path)) return metadata(req, res, next)
    }
    const state = rememberGate(req, binding, res)
    // Once per request prototype (an app's, a mounted app's): `req.auth` read from the state.
    const proto = Object.getPrototypeOf(req)
    if (proto !== exposedFor) {
      callerExposed = exposeCaller(req)
      exposedFor = proto
    }
    if (isPublic?.(req)) return next()
    // Each read of Express's request is a lookup of its own: the method read once.
    const { method } = req
    // A preflight another CORS layer passed on (or with `cors: false`) is gated like any request.
    if (method === 'OPTIONS' && answerPreflight(gate, req, res, routeMethods)) return
    if (!gateAll || state.verifiedBy === gate) return next()
    guard(binding, req, res, next, undefined, callerExposed ? state : undefined, method)
  } as PortcullisMiddleware

  keepBinding(middleware, binding)
  Object.defineProperties(middleware, {
    gate: { value: gate, enumerable: true },
    metadata: { value: metadata, enumerable: true },
    health: { value: () => gate.health(), enumerable: true },
    protect: { value: () => scopeGuard(binding, undefined), enumerable: true },
    requireScopes: {
      value: (...scopes: RequireScopesArgs) => scopeGuard(binding, requirementOf(scopes)),
      enumerable: true,
    },
  })
  return middleware
}

/** The longest string every one of `paths` starts with. */
function commonStart(paths: readonly string[]): string {
  let start = paths[0] ?? ''
  for (const path of paths) while (!path.startsWith(start)) start = start.slice(0, -1)
  return start
}

function publicMatcher(
  option: PortcullisMiddlewareOptions['public'],
): ((req: Request) => boolean) | undefined {
  if (option === undefined) return undefined
  if (typeof option === 'function') return (req) => option(req) === true
  const matches = publicPathMatcher(option)
  return (req) => matches(dispatchPath(req))
}

function mountedUnderPath(baseUrl: string, gate: Gate): Error {
  return new Error(
    `${OWNER}: portcullis() is mounted under "${baseUrl}", where the metadata document cannot be served at ` +
      `${gate.metadataPaths.join(', ')}. Mount it at the root (choose the protected routes with public or ` +
      "routes: 'declared'), or set metadataRoutes: false and mount app.use(auth.metadata) at the root",
  )
}
