import type { ServerResponse } from 'node:http'
import {
  type AuditEvent,
  type AuthenticateResult,
  type AuthorizeResult,
  createGate,
  type Gate,
  type GateHealth,
  type GateOptions,
  type RejectionLog,
  type ScopeRequirement,
} from '@portcullis/core'
import {
  answersPreflight,
  authenticationAuditEvent,
  authorizationHeaders,
  dpopHeaders,
  formBodyToken,
  gateOptionsSchema,
  gateSchema,
  parseOptions,
  parseScopeArgs,
  rejectionAuditEvent,
  type ScopeArgs,
} from '@portcullis/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { z } from 'zod'
import { applyCors } from './cors-headers.js'
import { type KeySetListener, reportKeySetEvents } from './key-set-reporting.js'
import {
  type AuditListener,
  type GateBinding,
  gatesSeen,
  markVerified,
  type RejectionListener,
  rememberGate,
  verifiedAuthOf,
  verifiedBy,
} from './request-state.js'
import { dispatchPath, FALLBACK_METHODS, routeMethods } from './route-methods.js'
import { sendReply } from './send-reply.js'

export const OWNER = '@portcullis/express'

/** Arguments of `requireScopes`: scope names (all required), or one `ScopeRequirement`. */
export type RequireScopesArgs = ScopeArgs

/** Options of the middleware that are not options of the gate. */
export interface PortcullisMiddlewareOptions {
  /**
   * Which requests the middleware authenticates: `'all'` (default) every request it sees except
   * `public` ones; `'declared'` none by itself, only routes with `protect()` or `requireScopes()`.
   */
  routes?: 'all' | 'declared'
  /**
   * Requests that need no token: exact paths (`'/health'`), regular expressions, or a function of
   * the request. Paths and expressions see the path the router dispatches on (`req.baseUrl +
   * req.path`: no query, no fragment, the absolute form reduced to its path, nothing decoded);
   * exact paths compare case and trailing slash as written, so `/HEALTH` or `/health/` (which
   * Express routes to `/health` by default) is authenticated. Their `req.auth` stays `undefined`.
   */
  public?: ReadonlyArray<string | RegExp> | ((req: Request) => boolean)
  /**
   * Serve the metadata document at its well-known path(s). Default `true`, which needs the
   * middleware mounted at the root (`app.use(portcullis(...))`). When it is mounted under a path,
   * set `false` and mount `middleware.metadata` at the root.
   */
  metadataRoutes?: boolean
  /**
   * Called for each rejected request with `{ severity, fields: { reason, status, fingerprint,
   * missingScopes, err } }` (never the token). Default: unexpected verifier failures
   * (`severity: 'error'`) go to `console.error`, ordinary rejections are not reported.
   */
  onRejection?: RejectionListener
  /**
   * Hears the key set events of the process (a remote key set that cannot be refreshed, and its
   * recovery; see core's `onKeySetEvent`). Default: printed with `console.warn` / `console.info`,
   * once per process. `false`: not reported.
   */
  onKeySetEvent?: KeySetListener | false
  /**
   * Hears the audit event of every access decision (allowed, refused, step-up, revoked; see
   * `docs/audit-events.md`), with the request: the place to write it to your logger, e.g.
   * `(event, req) => req.log.info({ audit: event }, 'portcullis audit event')` with pino-http.
   * Default: none. An event never holds a token (the token is named by its fingerprint).
   */
  onAudit?: AuditListener
}

/** Middleware options: the gate's options (or a gate made with `createGate`), plus the middleware's own. */
export type PortcullisOptions = (GateOptions | { gate: Gate }) & PortcullisMiddlewareOptions

/** The middleware `portcullis()` returns, with the pieces to mount elsewhere. */
export interface PortcullisMiddleware extends RequestHandler {
  /** The request pipeline of the protected resource (shareable with `@portcullis/fastify`). */
  readonly gate: Gate
  /** Serves only the metadata document; mount it at the root when the middleware is not. */
  readonly metadata: RequestHandler
  /** `protect()` bound to this gate: for apps with several protected resources. */
  protect(): RequestHandler
  /** `requireScopes()` bound to this gate: for apps with several protected resources. */
  requireScopes(...scopes: RequireScopesArgs): RequestHandler
  /** `gate.health()`: key sets, introspection and deny list as last seen, for a readiness route. */
  health(): GateHealth
}

const middlewareOptionsShape = {
  routes: z.enum(['all', 'declared']).optional(),
  public: z
    .union([
      z.array(z.union([z.string().startsWith('/', 'a public path starts with /'), z.instanceof(RegExp)])),
      z.custom<(req: Request) => boolean>((value) => typeof value === 'function', {
        error: 'must be a list of paths and regular expressions, or a function of the request',
      }),
    ])
    .optional(),
  metadataRoutes: z.boolean().optional(),
  onRejection: z
    .custom<RejectionListener>((value) => typeof value === 'function', { error: 'must be a function' })
    .optional(),
  onAudit: z
    .custom<AuditListener>((value) => typeof value === 'function', { error: 'must be a function' })
    .optional(),
  onKeySetEvent: z
    .union([
      z.literal(false),
      z.custom<KeySetListener>((value) => typeof value === 'function', {
        error: 'must be a function or false',
      }),
    ])
    .optional(),
}

const withGateSchema = z.strictObject({ gate: gateSchema, ...middlewareOptionsShape })
const withGateOptionsSchema = gateOptionsSchema.extend(middlewareOptionsShape)

/** The default rejection report: unexpected failures only, the token already replaced by its fingerprint. */
const reportFailures: RejectionListener = (event) => {
  if (event.severity === 'error')
    console.error(`${OWNER}: access token verification failed unexpectedly`, event.fields)
}

/**
 * Makes an Express app an OAuth 2.1 protected resource (MCP authorization, RFC 6750, RFC 9728):
 *
 * - serves the RFC 9728 metadata document at its well-known path(s), public, with CORS;
 * - authenticates every other request (or, with `routes: 'declared'`, those with `protect()` /
 *   `requireScopes()`), setting `req.auth` or answering 401/400/503 with the right
 *   `WWW-Authenticate` challenge; `public` paths are let through;
 * - CORS for browser clients: preflights are answered without a token (a CORS middleware mounted
 *   before this one may answer them instead; a preflight it passes on, or any with `cors: false`,
 *   is authenticated like every other request), and `WWW-Authenticate` is exposed;
 * - a report when a remote key set cannot be refreshed, and when it recovers (`onKeySetEvent`).
 *
 * Mount it at the root, before the routes it protects. Scopes per route: `requireScopes(...)`.
 * The same gate (status, headers and body of every answer) backs `@portcullis/fastify`.
 *
 * @example
 * const app = express()
 * app.use(portcullis({
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://idp.example.com/realms/acme'],
 *   verifier: jwtVerifier({ issuer: 'https://idp.example.com/realms/acme', audience: 'https://mcp.example.com/mcp' }),
 *   scopes: { implies: { 'reports:admin': ['reports:read'] } },
 *   public: ['/health'],
 * }))
 * app.get('/reports', requireScopes('reports:read'), (req, res) => res.json(verifiedAuth(req).extra.sub))
 */
export function portcullis(options: PortcullisOptions): PortcullisMiddleware {
  const hasGate = options !== null && typeof options === 'object' && 'gate' in options
  const parsed = hasGate
    ? parseOptions(withGateSchema, options, OWNER)
    : parseOptions(withGateOptionsSchema, options, OWNER)
  const {
    routes,
    public: publicOption,
    metadataRoutes,
    onRejection,
    onKeySetEvent,
    onAudit,
    ...gateOptions
  } = parsed
  // createGate gets the caller's options: zod's copy of scopes.implies loses a "__proto__" key.
  const gate =
    'gate' in gateOptions
      ? gateOptions.gate
      : createGate({ ...(gateOptions as GateOptions), scopes: (options as GateOptions).scopes })
  const binding: GateBinding = { gate, onRejection: onRejection ?? reportFailures, onAudit }
  reportKeySetEvents(onKeySetEvent)
  const gateAll = (routes ?? 'all') === 'all'
  const serveMetadata = metadataRoutes ?? true
  const metadataPaths = new Set(gate.metadataPaths)
  const isPublic = publicMatcher(publicOption)

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
    if (isPublic(req)) return next()
    // A preflight another CORS layer passed on (or with `cors: false`) is gated like any request.
    const otherCorsLayer = res.hasHeader('access-control-allow-origin')
    if (
      answersPreflight(req.method, req.headers['access-control-request-method'], gate.cors, otherCorsLayer)
    ) {
      const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined
      return sendReply(res, gate.cors.preflight(origin, routeMethods(req) ?? FALLBACK_METHODS))
    }
    if (!gateAll || verifiedBy(req) === gate) return next()
    guard(binding, req, res, next, undefined)
  } as PortcullisMiddleware

  bindings.set(middleware, binding)
  Object.defineProperties(middleware, {
    gate: { value: gate, enumerable: true },
    metadata: { value: metadata, enumerable: true },
    health: { value: () => gate.health(), enumerable: true },
    protect: { value: () => scopeGuard([binding], undefined), enumerable: true },
    requireScopes: {
      value: (...scopes: RequireScopesArgs) => scopeGuard([binding], requirementOf(scopes)),
      enumerable: true,
    },
  })
  return middleware
}

const bindings = new WeakMap<PortcullisMiddleware, GateBinding>()

/** The gate and rejection listener of a middleware made by `portcullis()`. */
export function bindingOfMiddleware(middleware: PortcullisMiddleware): GateBinding | undefined {
  return bindings.get(middleware)
}

/**
 * Authenticates the request (unless the gate already did) and checks `requirement`, then calls
 * `next()`; otherwise answers with the gate's rejection. `bindings` is where the gate comes from:
 * one fixed gate, or `undefined` for the gate of the portcullis middleware the request went through.
 */
export function scopeGuard(
  bindings: readonly GateBinding[] | undefined,
  requirement: ScopeRequirement | undefined,
): RequestHandler {
  return function portcullisScopeGuard(req: Request, res: Response, next: NextFunction) {
    const binding = bindings?.[0] ?? bindingOf(req)
    if (binding instanceof Error) return next(binding)
    if (verifiedBy(req) === binding.gate) {
      if (requirement === undefined) return next()
      const decision = binding.gate.authorize(verifiedAuthOf(req)!, requirement)
      if (!decision.ok) return reject(binding, req, res, decision)
      return next()
    }
    // The portcullis middleware let this request through (public path, `routes: 'declared'`):
    // authenticate here rather than let it pass (fail closed).
    guard(binding, req, res, next, requirement)
  }
}

/** Authenticates `req` with the binding's gate, then checks `requirement`; `next()` only on success. */
function guard(
  binding: GateBinding,
  req: Request,
  res: Response,
  next: NextFunction,
  requirement: ScopeRequirement | undefined,
): void {
  const { gate } = binding
  applyCors(gate, req, res)
  const settle = (result: AuthenticateResult): void => {
    if (!result.ok) {
      reject(binding, req, res, result)
      return
    }
    req.auth = result.auth
    if (result.headers !== undefined)
      for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value)
    markVerified(req, gate, result.auth)
    if (binding.onAudit !== undefined) audit(binding, authenticationAuditEvent(gate.resource, result), req)
    const decision = requirement === undefined ? undefined : gate.authorize(result.auth, requirement)
    if (decision !== undefined && !decision.ok) reject(binding, req, res, decision)
    else next()
  }
  // A remembered token is settled synchronously: no promise on the hot path.
  const result = gate.authenticateNow({
    authorization: authorizationHeaders(req.rawHeaders),
    bodyToken: formBodyToken(req.headers['content-type'], req.body),
    // Resolved by Express's "trust proxy" setting when the attempt limiter reads it (not before:
    // req.ip parses the forwarding headers on every read).
    clientAddress: () => req.ip,
    // RFC 9449 §4.3: a DPoP proof names the method and the URL the client used (before mounting).
    dpop: dpopHeaders(req.rawHeaders),
    method: req.method,
    path: req.originalUrl,
  })
  if (result instanceof Promise) result.then(settle).catch(next)
  else settle(result)
}

function reject(
  binding: GateBinding,
  req: Request,
  res: ServerResponse,
  result: Exclude<AuthenticateResult | AuthorizeResult, { ok: true }>,
): void {
  report(binding, result.log, req)
  if (binding.onAudit !== undefined) {
    audit(
      binding,
      rejectionAuditEvent(
        binding.gate.resource,
        verifiedBy(req) === binding.gate ? verifiedAuthOf(req) : undefined,
        result,
      ),
      req,
    )
  }
  sendReply(res, result.reply)
}

/** Hands an audit event to the binding's listener; a failing listener must not fail the request. */
export function audit(binding: GateBinding, event: AuditEvent, req: Request): void {
  try {
    binding.onAudit?.(event, req)
  } catch {
    // ignored: reporting is best effort
  }
}

export function report(binding: GateBinding, event: RejectionLog, req: Request): void {
  try {
    binding.onRejection(event, req)
  } catch {
    // A failing listener must not turn a rejection into a crash.
  }
}

function publicMatcher(option: PortcullisMiddlewareOptions['public']): (req: Request) => boolean {
  if (option === undefined) return () => false
  if (typeof option === 'function') return (req) => option(req) === true
  const paths = new Set(option.filter((entry): entry is string => typeof entry === 'string'))
  const patterns = option.filter((entry): entry is RegExp => entry instanceof RegExp)
  return (req) => {
    const path = dispatchPath(req)
    if (paths.has(path)) return true
    return patterns.some((pattern) => {
      // A global or sticky pattern keeps state between tests; start each test afresh.
      pattern.lastIndex = 0
      return pattern.test(path)
    })
  }
}

/** The gate for a guard that names none: the one portcullis middleware the request went through. */
function bindingOf(req: Request): GateBinding | Error {
  const verified = verifiedBy(req)
  const seen = gatesSeen(req)
  if (verified !== undefined)
    return seen.find((b) => b.gate === verified) ?? { gate: verified, onRejection: reportFailures }
  if (seen.length === 1) return seen[0]!
  if (seen.length === 0) {
    return new Error(
      `${OWNER}: protect() / requireScopes() on a route no portcullis() middleware covers; mount app.use(portcullis(...)) before the route`,
    )
  }
  return new Error(
    `${OWNER}: this request went through ${seen.length} portcullis() middlewares; use the bound guard of the one that protects the route (auth.requireScopes(...), auth.protect())`,
  )
}

function requirementOf(scopes: RequireScopesArgs): ScopeRequirement {
  return parseScopeArgs(scopes, `${OWNER}: requireScopes`)
}

function mountedUnderPath(baseUrl: string, gate: Gate): Error {
  return new Error(
    `${OWNER}: portcullis() is mounted under "${baseUrl}", where the metadata document cannot be served at ` +
      `${gate.metadataPaths.join(', ')}. Mount it at the root (choose the protected routes with public or ` +
      "routes: 'declared'), or set metadataRoutes: false and mount app.use(auth.metadata) at the root",
  )
}

/**
 * Authenticates requests that reach it, with the gate of the `portcullis()` middleware they went
 * through: for routes that `routes: 'declared'` or `public` leave open. A no-op after the gate
 * already verified the caller.
 *
 * @example
 * app.use(portcullis({ ...options, routes: 'declared' }))
 * app.post('/mcp', protect(), mcpHandler)
 */
export function protect(): RequestHandler {
  return scopeGuard(undefined, undefined)
}

/**
 * Answers 403 `insufficient_scope` (with every missing scope in the challenge, MCP 2026-07-28
 * §Runtime Insufficient Scope Errors) unless the caller's token has the scopes: names (all of
 * them), or `{ anyOf }` / `{ allOf }`. Scope implication (`scopes.implies`) applies. On a route the
 * portcullis middleware left open, it authenticates first (fail closed).
 *
 * @example
 * app.delete('/notes/:id', requireScopes('notes:write'), handler)
 * app.get('/search', requireScopes({ anyOf: ['notes:read', 'files:read'] }), handler)
 */
export function requireScopes(...scopes: RequireScopesArgs): RequestHandler {
  return scopeGuard(undefined, requirementOf(scopes))
}
