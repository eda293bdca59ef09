import {
  type AuthenticateResult,
  type AuthorizeResult,
  createGate,
  type Gate,
  type GateOptions,
  type ScopeRequirement,
  type VerifiedAuthInfo,
} from '@portcullis/core'
import {
  answersPreflight,
  authenticationAuditEvent,
  authorizationHeaders,
  dpopHeaders,
  FORM_MEDIA_TYPE,
  formBodyToken,
  gateSchema,
  isFormContentType,
  mergeHeaderList,
  parseOptions,
  parseScopeArgs,
  parseScopeRequirement,
  rejectionAuditEvent,
} from '@portcullis/core/adapter'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
  onSendHookHandler,
  preHandlerAsyncHookHandler,
  preValidationHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import { logAudit, setAuditLogLevel } from './audit-log.js'
import { reportKeySetEvents } from './key-set-reporting.js'
import { registerMetadataRoutes } from './metadata-routes.js'
import { type PortcullisOptions, withGateOptionsSchema, withGateSchema } from './plugin-options.js'
import type { RequireScopesArgs } from './types.js'

const OWNER = '@portcullis/fastify'

/** What the gate does on a route, decided once per route when it is added (see `checkRoute`). */
interface RouteDecision {
  readonly gated: boolean
  /** The route's `config.scopes`, validated. */
  readonly requirement: ScopeRequirement | undefined
}

/** Where a route's config carries its decision (Fastify keeps a copy of `config` per route). */
const ROUTE_DECISION = Symbol('portcullis route decision')
/** Request slots: the decision of a request the gate took on, and a gate waiting for the form body. */
const GATED = Symbol('portcullis gated')
const AWAITING_BODY = Symbol('portcullis awaiting body')

type DecidedConfig = { auth?: boolean; scopes?: ScopeRequirement; [ROUTE_DECISION]?: RouteDecision }
type GateSlots = { [GATED]: RouteDecision | null; [AWAITING_BODY]: boolean }

/**
 * Makes every route of the Fastify scope it is registered in an OAuth 2.1 protected resource
 * (MCP authorization, RFC 6750, RFC 9728):
 *
 * - a bearer gate (`onRequest`) that sets `request.auth` or answers 401/400/503 with the right
 *   `WWW-Authenticate` challenge; opt a route out with `config: { auth: false }`;
 * - a scope guard: route `config.scopes` (array = all of them, `{ anyOf }`, `{ allOf }`) and the
 *   `requireScopes(...)` preHandler, answering 403 `insufficient_scope` with the missing scopes;
 * - the RFC 9728 metadata document at its well-known path(s), public, with CORS;
 * - CORS for browser clients: preflights are answered without a token (by `@fastify/cors` when it
 *   is registered; a preflight it passes on, or any with `cors: false`, is authenticated like
 *   every other request), and `WWW-Authenticate` is exposed;
 * - a warn log line when a remote key set cannot be refreshed (held keys keep serving, so no
 *   request shows it) and an info line when it recovers (`onKeySetEvent`).
 *
 * The plugin uses `fastify-plugin`, so it protects the scope it is registered in, not a child of
 * it: register it at the root to protect the whole app, or inside an encapsulated plugin to
 * protect only that plugin's routes. Each protected resource needs its own scope; registering the
 * plugin again in the same scope or below is an error.
 *
 * @example
 * await app.register(portcullis, {
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://idp.example.com/realms/acme'],
 *   verifier: jwtVerifier({ issuer: 'https://idp.example.com/realms/acme', audience: 'https://mcp.example.com/mcp' }),
 *   scopes: { implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] } },
 * })
 * app.get('/reports', { config: { scopes: ['reports:read'] } }, async (req) => req.auth.extra.sub)
 */
async function portcullisPlugin(fastify: FastifyInstance, options: PortcullisOptions): Promise<void> {
  if (options !== null && typeof options === 'object' && 'prefix' in options) {
    throw new TypeError(
      `${OWNER}: option "prefix" has no effect: the plugin protects the scope it is registered in. ` +
        'Register it inside an encapsulated plugin (app.register(async (scope) => { await scope.register(portcullis, ...) }, { prefix }))',
    )
  }
  const hasGate = options !== null && typeof options === 'object' && 'gate' in options
  const parsed = hasGate
    ? parseOptions(withGateSchema, options, OWNER)
    : parseOptions(withGateOptionsSchema, options, OWNER)
  const { routes, logLevel: level, auditLog, metadataRoutes, ...gateOptions } = parsed
  // createGate gets the caller's options: zod's copy of scopes.implies loses a "__proto__" key.
  const gate =
    'gate' in gateOptions
      ? gateOptions.gate
      : createGate({ ...gateOptions, scopes: (options as GateOptions).scopes })
  const routesMode = routes ?? 'all'
  const logLevel = level ?? 'info'

  if (fastify.hasDecorator('portcullis')) {
    throw new Error(
      `${OWNER}: already registered in this scope or a parent scope. Each protected resource needs its ` +
        'own encapsulated scope: app.register(async (scope) => { await scope.register(portcullis, ...) })',
    )
  }
  const serveMetadata = metadataRoutes ?? true
  if (serveMetadata && fastify.prefix !== '') {
    throw new Error(
      `${OWNER}: registered under the route prefix "${fastify.prefix}", where the metadata document ` +
        `cannot be served at ${gate.metadataPaths.join(', ')}. Set metadataRoutes: false and register ` +
        'portcullisMetadata with the same gate at the root',
    )
  }

  fastify.decorate('portcullis', gate)
  const auditLevel = setAuditLogLevel(gate, auditLog)
  reportKeySetEvents(fastify)
  // null until the gate verifies the caller (Fastify wants decorators declared up front, V8 likes stable shapes).
  if (!fastify.hasRequestDecorator('auth'))
    fastify.decorateRequest('auth', null as unknown as VerifiedAuthInfo)
  fastify.decorateRequest(GATED, null)
  fastify.decorateRequest(AWAITING_BODY, false)

  // Whether @fastify/cors answers preflights and sets Allow-Origin here. Known for sure once every
  // plugin of the scope has loaded.
  const corsAtRegister = fastify.hasPlugin('@fastify/cors')
  let corsDelegated = corsAtRegister
  fastify.addHook('onReady', async function checkCorsOrder() {
    corsDelegated = this.hasPlugin('@fastify/cors')
    if (corsDelegated && !corsAtRegister && gate.cors !== undefined) {
      // Its onRequest hook would run after the gate, so 401s would go out without Allow-Origin.
      throw new Error(
        `${OWNER}: @fastify/cors is registered after @portcullis/fastify in the same scope; register it first ` +
          'so its headers are on every reply, including rejections (or set cors: false)',
      )
    }
  })

  const isProtected = (config: { auth?: boolean; scopes?: unknown } | undefined): boolean => {
    if (config === undefined || config.auth === false) return false
    return routesMode === 'all' || config.auth === true || config.scopes !== undefined
  }

  /** A route's decision: precomputed, or (a route added before this plugin) read from its config now. */
  const decisionOf = (config: DecidedConfig | undefined): RouteDecision =>
    config?.[ROUTE_DECISION] ?? { gated: isProtected(config), requirement: config?.scopes }

  /** Methods each protected URL answers, for preflight `Access-Control-Allow-Methods` and `Allow`. */
  const methodsByUrl = new Map<string, Set<string>>()

  fastify.addHook('onRoute', function checkRoute(route) {
    const config = route.config ?? {}
    const where = `${OWNER}: route ${String(route.method)} ${route.url}`
    if (config.auth !== undefined && typeof config.auth !== 'boolean') {
      throw new TypeError(`${where}: config.auth must be a boolean`)
    }
    let requirement: ScopeRequirement | undefined
    if (config.scopes !== undefined) {
      if (config.auth === false)
        throw new TypeError(`${where}: config.scopes on a route with config.auth false`)
      requirement = parseScopeRequirement(config.scopes, `${where} config.scopes`)
    }
    const gated = isProtected(config)
    // Decided here once, so a request reads one property instead of re-deriving it.
    const decided: DecidedConfig = { ...config, [ROUTE_DECISION]: { gated, requirement } }
    route.config = decided as typeof config
    if (!gated) return
    const methods = methodsByUrl.get(route.url) ?? new Set<string>()
    methodsByUrl.set(route.url, methods)
    for (const method of ([] as string[]).concat(route.method)) methods.add(method)
    if (gate.cors === undefined || methods.has('OPTIONS')) return
    // A preflight must reach this scope to be answered: give the URL an OPTIONS route unless it has one.
    methods.add('OPTIONS')
    if (this.hasRoute({ method: 'OPTIONS', url: route.url })) return
    this.route({
      method: 'OPTIONS',
      // Fastify's documented onRoute `routePath`: the URL without this scope's prefix, which `this.route` adds back.
      url: route.routePath,
      ...(route.prefixTrailingSlash === undefined ? {} : { prefixTrailingSlash: route.prefixTrailingSlash }),
      config: { ...config },
      handler: async (_request, reply) => {
        // Reached only by a plain OPTIONS request (authenticated by the gate) or a preflight that
        // @fastify/cors chose not to answer: either way no CORS grant, just the allowed methods.
        reply.header('Allow', [...methods].join(', '))
        return reply.code(204).header('Content-Length', '0').send()
      },
    })
  })

  const sendRejection = (
    request: FastifyRequest,
    reply: FastifyReply,
    result: Exclude<AuthenticateResult | AuthorizeResult, { ok: true }>,
  ): FastifyReply => {
    if (auditLevel !== undefined)
      logAudit(request.log, auditLevel, rejectionAuditEvent(gate.resource, request.auth, result))
    const { severity, fields } = result.log
    if (severity === 'error') request.log.error(fields, 'access token verification failed unexpectedly')
    else request.log[logLevel](fields, 'request rejected by portcullis')
    return reply.code(result.reply.status).headers(result.reply.headers).send(result.reply.body)
  }

  /** Sets `request.auth` and checks `requirement`; `undefined` when the request may go on, else the rejection sent. */
  const settle = (
    request: FastifyRequest,
    reply: FastifyReply,
    result: AuthenticateResult,
    requirement: ScopeRequirement | undefined,
  ): FastifyReply | undefined => {
    if (!result.ok) return sendRejection(request, reply, result)
    request.auth = result.auth
    if (result.headers !== undefined) reply.headers(result.headers)
    if (auditLevel !== undefined) {
      logAudit(request.log, auditLevel, authenticationAuditEvent(gate.resource, result))
    }
    if (requirement !== undefined) {
      const decision = gate.authorize(result.auth, requirement)
      if (!decision.ok) return sendRejection(request, reply, decision)
    }
    return undefined
  }

  const authenticateNow = (request: FastifyRequest, bodyToken: unknown) =>
    gate.authenticateNow({
      authorization: authorizationHeaders(request.raw.rawHeaders),
      bodyToken,
      // Resolved by Fastify's trustProxy setting; only the attempt limiter reads it.
      clientAddress: request.ip,
      // RFC 9449 §4.3: a DPoP proof names the method and the URL the client used (the raw target).
      dpop: dpopHeaders(request.raw.rawHeaders),
      method: request.method,
      path: request.url,
    })

  const authenticate = async (
    request: FastifyRequest,
    reply: FastifyReply,
    bodyToken: unknown,
    requirement: ScopeRequirement | undefined,
  ): Promise<FastifyReply | undefined> =>
    settle(request, reply, await authenticateNow(request, bodyToken), requirement)

  /**
   * Authenticates in a callback-style hook: a remembered token is settled without a promise. Calls
   * `done` when the request may go on; a rejection is sent instead (Fastify then stops the chain).
   */
  const authenticateThen = (
    request: FastifyRequest,
    reply: FastifyReply,
    bodyToken: unknown,
    requirement: ScopeRequirement | undefined,
    done: HookHandlerDoneFunction,
  ): void => {
    const result = authenticateNow(request, bodyToken)
    if (!(result instanceof Promise)) {
      if (settle(request, reply, result, requirement) === undefined) done()
      return
    }
    result
      .then((answer) => {
        if (settle(request, reply, answer, requirement) === undefined) done()
      })
      .catch((error: Error) => done(error))
  }

  // The CORS headers of an actual response, computed once when they do not depend on the origin
  // (an answer that depends on it carries Vary: Origin, Fetch standard §3.2.5).
  // Names in lower case, as Fastify keeps them: no lower-cased copy per reply.
  const fixedCorsHeaders =
    gate.cors === undefined
      ? undefined
      : Object.entries(gate.cors.responseHeaders(undefined)).map(([name, value]): [string, string] => [
          name.toLowerCase(),
          value,
        ])
  const corsVariesByOrigin = fixedCorsHeaders?.some(([name]) => name === 'vary') ?? false
  const exposedHeaderList = gate.cors === undefined ? '' : mergeHeaderList(undefined, gate.cors.exposeHeaders)

  const applyCors = (request: FastifyRequest, reply: FastifyReply) => {
    if (gate.cors === undefined || corsDelegated) return
    // A CORS layer whose hook ran first (e.g. @fastify/cors in a parent scope) has decided already.
    if (reply.hasHeader('access-control-allow-origin')) return
    if (!corsVariesByOrigin) {
      for (const [name, value] of fixedCorsHeaders!) reply.header(name, value)
      return
    }
    const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined
    for (const [name, value] of Object.entries(gate.cors.responseHeaders(origin))) {
      if (name === 'Vary') reply.header('Vary', mergeHeaderList(reply.getHeader('vary'), [value]))
      else reply.header(name, value)
    }
  }

  // Callback-style hooks: Fastify runs them without a promise per request.
  const gateRequest: onRequestHookHandler = function gateRequest(request, reply, done) {
    if (request.is404) return done()
    const decision = decisionOf(request.routeOptions.config as DecidedConfig)
    if (!decision.gated) return done()
    // A preflight @fastify/cors passed on (preflightContinue, origin false), or any with
    // `cors: false`, is gated like every other request: no handler runs unauthenticated.
    if (
      answersPreflight(
        request.method,
        request.headers['access-control-request-method'],
        gate.cors,
        corsDelegated,
      )
    ) {
      const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined
      const methods = methodsByUrl.get(request.routeOptions.url ?? '') ?? new Set([request.method])
      const answer = gate.cors.preflight(origin, [...methods])
      reply.code(answer.status).headers(answer.headers).send()
      return
    }
    const slots = request as unknown as GateSlots
    slots[GATED] = decision
    applyCors(request, reply)
    // Requests that may carry a form-body token (RFC 6750 §2.2) are checked once the body is
    // parsed: a token in both header and body is a 400 (RFC 6750 §3.1).
    if (mayCarryFormToken(request)) {
      slots[AWAITING_BODY] = true
      return done()
    }
    authenticateThen(request, reply, undefined, decision.requirement, done)
  }

  const gateFormRequest: preValidationHookHandler = function gateFormRequest(request, reply, done) {
    const slots = request as unknown as GateSlots
    if (!slots[AWAITING_BODY]) return done()
    slots[AWAITING_BODY] = false
    const bodyToken = formBodyToken(request.headers['content-type'], request.body)
    authenticateThen(request, reply, bodyToken, slots[GATED]?.requirement, done)
  }

  const exposeHeaders: onSendHookHandler = function exposeHeaders(request, reply, payload, done) {
    if ((request as unknown as GateSlots)[GATED] === null) return done(null, payload)
    const current = reply.getHeader('access-control-expose-headers')
    // Ours, untouched: the common case. No grant for this origin: nothing to expose (as
    // corsPolicy.responseHeaders answers).
    if (current === exposedHeaderList || !reply.hasHeader('access-control-allow-origin')) {
      return done(null, payload)
    }
    // Merged at the end so another CORS layer (@fastify/cors exposedHeaders) cannot drop WWW-Authenticate.
    reply.header('Access-Control-Expose-Headers', mergeHeaderList(current, gate.cors!.exposeHeaders))
    return done(null, payload)
  }

  fastify.addHook('onRequest', gateRequest)
  fastify.addHook('preValidation', gateFormRequest)
  if (gate.cors !== undefined) fastify.addHook('onSend', exposeHeaders)

  fastify.decorate(
    'requireScopes',
    function requireScopes(...args: RequireScopesArgs): preHandlerAsyncHookHandler {
      const requirement = parseScopeArgs(args, `${OWNER}: requireScopes`)
      return async function scopeGuard(request, reply) {
        // On a route the gate does not protect, authenticate here rather than let it through (fail closed).
        if (request.auth === null) {
          applyCors(request, reply)
          return authenticate(request, reply, undefined, requirement)
        }
        const decision = gate.authorize(request.auth, requirement)
        if (!decision.ok) return sendRejection(request, reply, decision)
        return undefined
      }
    },
  )

  if (serveMetadata) registerMetadataRoutes(fastify, gate)
}

/** True for a body-carrying request in `application/x-www-form-urlencoded` that this scope can parse. */
function mayCarryFormToken(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false
  return (
    isFormContentType(request.headers['content-type']) && request.server.hasContentTypeParser(FORM_MEDIA_TYPE)
  )
}

/**
 * The Portcullis Fastify plugin. See `PortcullisOptions`.
 *
 * @example
 * await app.register(portcullis, { resource, authorizationServers: [issuer], verifier: jwtVerifier({ issuer, audience: resource }) })
 */
export const portcullis = fp(portcullisPlugin, { name: OWNER, fastify: '5.x' })

/**
 * Serves the metadata document of a gate without protecting anything: for a portcullis registered
 * under a route prefix (`metadataRoutes: false`), register this at the root with the same gate.
 *
 * @example
 * const gate = createGate({ resource, authorizationServers, verifier })
 * await app.register(portcullisMetadata, { gate })
 * await app.register(async (api) => { await api.register(portcullis, { gate, metadataRoutes: false }) }, { prefix: '/api' })
 */
export const portcullisMetadata = fp(
  async function portcullisMetadataPlugin(fastify: FastifyInstance, options: { gate: Gate }) {
    const { gate } = parseOptions(
      z.strictObject({ gate: gateSchema }),
      options,
      `${OWNER} portcullisMetadata`,
    )
    if (fastify.prefix !== '') {
      throw new Error(
        `${OWNER} portcullisMetadata: register it where there is no route prefix (found "${fastify.prefix}")`,
      )
    }
    registerMetadataRoutes(fastify, gate)
  },
  { name: `${OWNER}/metadata`, fastify: '5.x' },
)
