import type { Gate, GateHealth, GateOptions, KeySetEvent } from '@portcullis/core'
import { onKeySetEvent } from '@portcullis/core'
import {
  type AdapterOptions,
  adapterOptionsShape,
  answersPreflight,
  gateFromAdapterOptions,
  keySetEventReport,
  listenerSchema,
  publicPathMatcher,
} from '@portcullis/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { z } from 'zod'
import { guard, OWNER, type RequireScopesArgs, reportFailures, requirementOf, scopeGuard } from './guard.js'
import {
  type AuditListener,
  type GateBinding,
  type RejectionListener,
  rememberGate,
  verifiedBy,
} from './request-state.js'
import { dispatchPath, FALLBACK_METHODS, routeMethods } from './route-methods.js'
import { sendReply } from './send-reply.js'

/** Options of the middleware that are not options of the gate (`routes`, `metadataRoutes`: as in Fastify). */
export interface PortcullisMiddlewareOptions extends AdapterOptions {
  /**
   * Requests that need no token (Fastify: `config: { public: true }`): exact paths (`'/health'`),
   * regular expressions, or a function of the request. Paths see the path the router dispatches on
   * (`req.baseUrl + req.path`: no query or fragment, nothing decoded), compared as written (case,
   * trailing slash). Their `req.auth` stays `undefined`.
   */
  public?: ReadonlyArray<string | RegExp> | ((req: Request) => boolean)
  /**
   * Called for each rejected request with `{ severity, fields: { reason, status, fingerprint,
   * missingScopes, err } }` (never the token). Default: unexpected verifier failures
   * (`severity: 'error'`) go to `console.error`, ordinary rejections are not reported.
   */
  onRejection?: RejectionListener
  /**
   * Hears the key set events of the process (a refresh that fails, its recovery; core's
   * `onKeySetEvent`). Default: printed with `console.warn` / `console.info`, once per process. `false`: not reported.
   */
  onKeySetEvent?: ((event: KeySetEvent) => void) | false
  /**
   * Hears the audit event of every access decision (`docs/audit-events.md`), with the request, e.g.
   * `(event, req) => req.log.info({ audit: event }, 'portcullis audit event')`. Default none.
   */
  onAudit?: AuditListener
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
  public: z
    .union([
      z.array(z.union([z.string().startsWith('/', 'a public path starts with /'), z.instanceof(RegExp)])),
      listenerSchema<(req: Request) => boolean>(
        'a list of paths and regular expressions, or a function of the request',
      ),
    ])
    .optional(),
  onRejection: listenerSchema<RejectionListener>().optional(),
  onAudit: listenerSchema<AuditListener>().optional(),
}

/**
 * Makes an Express app an OAuth 2.1 protected resource (MCP authorization, RFC 6750, RFC 9728):
 * serves the RFC 9728 metadata document; authenticates every other request (or, with `routes:
 * 'declared'`, those with `protect()` / `requireScopes()`), setting `req.auth` or answering
 * 401/400/503 with the right challenge; CORS for browser clients (preflights answered without a
 * token unless a CORS layer before it answers them; `WWW-Authenticate` exposed); key set outages
 * reported. Mount it at the root, before the routes it protects. The same gate backs `@portcullis/fastify`.
 *
 * @example
 * app.use(portcullis({
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://idp.example.com/realms/acme'],
 *   verifier: jwtVerifier({ issuer: 'https://idp.example.com/realms/acme', audience: 'https://mcp.example.com/mcp' }),
 *   public: ['/health'],
 * }))
 * app.get('/reports', requireScopes('reports:read'), (req, res) => res.json(verifiedAuth(req).extra.sub))
 */
export function portcullis(options: PortcullisOptions): PortcullisMiddleware {
  const { gate, own } = gateFromAdapterOptions(options, OWNER, middlewareOptionsShape)
  const binding: GateBinding = { gate, onRejection: own.onRejection ?? reportFailures, onAudit: own.onAudit }
  reportKeySetEvents(own.onKeySetEvent)
  const gateAll = (own.routes ?? 'all') === 'all'
  const serveMetadata = own.metadataRoutes ?? true
  const metadataPaths = new Set(gate.metadataPaths)
  const isPublic = publicMatcher(own.public)

  const metadata: RequestHandler = function portcullisMetadata(req, res, next) {
    if (!metadataPaths.has(dispatchPath(req))) return next()
    // RFC 9728 §3.1: clients read the document before they have a token; it is never gated.
    res.removeHeader('Access-Control-Allow-Credentials')
    sendReply(res, gate.metadataReply(req.method))
  }

  const middleware = function portcullisGate(req: Request, res: Response, next: NextFunction) {
    if (serveMetadata) {
      if (req.baseUrl !== '') return next(mountedUnderPath(req.baseUrl, gate))
      if (metadataPaths.has(dispatchPath(req))) return metadata(req, res, next)
    }
    rememberGate(req, binding)
    if (isPublic !== undefined && isPublic(req)) return next()
    // A preflight another CORS layer passed on (or with `cors: false`) is gated like any request.
    const preflightMethod = req.headers['access-control-request-method']
    if (
      answersPreflight(req.method, preflightMethod, gate.cors, res.hasHeader('access-control-allow-origin'))
    ) {
      return sendReply(res, gate.cors.preflight(req.headers.origin, routeMethods(req) ?? FALLBACK_METHODS))
    }
    if (!gateAll || verifiedBy(req) === gate) return next()
    guard(binding, req, res, next, undefined)
  } as PortcullisMiddleware

  bindings.set(middleware, binding)
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

const bindings = new WeakMap<PortcullisMiddleware, GateBinding>()

/** The gate and reporters of a middleware made by `portcullis()`. */
export function bindingOfMiddleware(middleware: PortcullisMiddleware): GateBinding | undefined {
  return bindings.get(middleware)
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

const subscribed = new WeakSet<(event: KeySetEvent) => void>()

/** Subscribes a key set listener once for the process (Express has no shutdown hook to unsubscribe in). */
function reportKeySetEvents(listener: ((event: KeySetEvent) => void) | false | undefined): void {
  if (listener === false) return
  const target = listener ?? printKeySetEvent
  if (subscribed.has(target)) return
  subscribed.add(target)
  onKeySetEvent(target)
}

function printKeySetEvent(event: KeySetEvent): void {
  const { level, message, keySet } = keySetEventReport(event)
  console[level](`${OWNER}: ${message}`, keySet)
}
