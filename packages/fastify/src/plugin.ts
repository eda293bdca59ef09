import {
  type AuthenticateResult,
  type AuthorizeResult,
  authorizationHeaders,
  createGate,
  type Gate,
  type GateOptions,
  gateOptionsSchema,
  gateSchema,
  isPreflight,
  mergeHeaderList,
  onKeySetEvent,
  parseOptions,
  parseScopeArgs,
  parseScopeRequirement,
  type ScopeRequirement,
  type VerifiedAuthInfo,
} from '@gatehouse/core'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  LogLevel,
  onRequestAsyncHookHandler,
  onSendAsyncHookHandler,
  preHandlerAsyncHookHandler,
  preValidationAsyncHookHandler,
  RouteOptions,
} from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import { registerMetadataRoutes } from './metadata-routes.js'
import type { RequireScopesArgs } from './types.js'

/** Options of the plugin that are not options of the gate. */
export interface GatehousePluginOptions {
  /**
   * Which routes of the scope the gate protects: `'all'` (default) every route except those with
   * `config: { auth: false }`; `'declared'` only routes with `config: { auth: true }` or `config.scopes`.
   */
  routes?: 'all' | 'declared'
  /** Level at which rejected requests are logged (`{ reason, status, fingerprint }`). Default `'info'`. */
  logLevel?: LogLevel
  /**
   * Serve the metadata document from this scope. Default `true`. Set `false` when the plugin is
   * registered under a route prefix and serve the document with `gatehouseMetadata` at the root.
   */
  metadataRoutes?: boolean
}

/** Plugin options: the gate's options (or a gate made with `createGate`), plus the plugin's own. */
export type GatehouseOptions = (GateOptions | { gate: Gate }) & GatehousePluginOptions

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const pluginOptionsShape = {
  routes: z.enum(['all', 'declared']).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  metadataRoutes: z.boolean().optional(),
}

const withGateSchema = z.strictObject({ gate: gateSchema, ...pluginOptionsShape })
const withGateOptionsSchema = gateOptionsSchema.extend(pluginOptionsShape)

const OWNER = '@gatehouse/fastify'
const FORM_TYPE = 'application/x-www-form-urlencoded'

/** HTTP servers whose logger already reports key set events (once per server, not per scope). */
const keySetReporting = new WeakSet<object>()

/**
 * Makes every route of the Fastify scope it is registered in an OAuth 2.1 protected resource
 * (MCP authorization, RFC 6750, RFC 9728):
 *
 * - a bearer gate (`onRequest`) that sets `request.auth` or answers 401/400/503 with the right
 *   `WWW-Authenticate` challenge; opt a route out with `config: { auth: false }`;
 * - a scope guard: route `config.scopes` (array = all of them, `{ anyOf }`, `{ allOf }`) and the
 *   `requireScopes(...)` preHandler, answering 403 `insufficient_scope` with the missing scopes;
 * - the RFC 9728 metadata document at its well-known path(s), public, with CORS;
 * - CORS for browser clients: preflights are never authenticated and are answered (unless
 *   `@fastify/cors` is registered, which then answers them), and `WWW-Authenticate` is exposed;
 * - a warn log line when a remote key set cannot be refreshed (held keys keep serving, so no
 *   request shows it) and an info line when it recovers (`onKeySetEvent`).
 *
 * The plugin uses `fastify-plugin`, so it protects the scope it is registered in, not a child of
 * it: register it at the root to protect the whole app, or inside an encapsulated plugin to
 * protect only that plugin's routes. Each protected resource needs its own scope; registering the
 * plugin again in the same scope or below is an error.
 *
 * @example
 * await app.register(gatehouse, {
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://idp.example.com/realms/acme'],
 *   verifier: jwtVerifier({ issuer: 'https://idp.example.com/realms/acme', audience: 'https://mcp.example.com/mcp' }),
 *   scopes: { implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] } },
 * })
 * app.get('/reports', { config: { scopes: ['reports:read'] } }, async (req) => req.auth.extra.sub)
 */
async function gatehousePlugin(fastify: FastifyInstance, options: GatehouseOptions): Promise<void> {
  if (options !== null && typeof options === 'object' && 'prefix' in options) {
    throw new TypeError(
      `${OWNER}: option "prefix" has no effect: the plugin protects the scope it is registered in. ` +
        'Register it inside an encapsulated plugin (app.register(async (scope) => { await scope.register(gatehouse, ...) }, { prefix }))',
    )
  }
  const hasGate = options !== null && typeof options === 'object' && 'gate' in options
  const parsed = hasGate
    ? parseOptions(withGateSchema, options, OWNER)
    : parseOptions(withGateOptionsSchema, options, OWNER)
  const { routes, logLevel: level, metadataRoutes, ...gateOptions } = parsed
  const gate = 'gate' in gateOptions ? gateOptions.gate : createGate(gateOptions as GateOptions)
  const routesMode = routes ?? 'all'
  const logLevel = level ?? 'info'

  if (fastify.hasDecorator('gatehouse')) {
    throw new Error(
      `${OWNER}: already registered in this scope or a parent scope. Each protected resource needs its ` +
        'own encapsulated scope: app.register(async (scope) => { await scope.register(gatehouse, ...) })',
    )
  }
  const serveMetadata = metadataRoutes ?? true
  if (serveMetadata && fastify.prefix !== '') {
    throw new Error(
      `${OWNER}: registered under the route prefix "${fastify.prefix}", where the metadata document ` +
        `cannot be served at ${gate.metadataPaths.join(', ')}. Set metadataRoutes: false and register ` +
        'gatehouseMetadata with the same gate at the root',
    )
  }

  fastify.decorate('gatehouse', gate)
  reportKeySetEvents(fastify)
  // null until the gate verifies the caller (Fastify wants decorators declared up front, V8 likes stable shapes).
  if (!fastify.hasRequestDecorator('auth'))
    fastify.decorateRequest('auth', null as unknown as VerifiedAuthInfo)

  // Whether @fastify/cors answers preflights and sets Allow-Origin here. Known for sure once every
  // plugin of the scope has loaded.
  const corsAtRegister = fastify.hasPlugin('@fastify/cors')
  let corsDelegated = corsAtRegister
  fastify.addHook('onReady', async function checkCorsOrder() {
    corsDelegated = this.hasPlugin('@fastify/cors')
    if (corsDelegated && !corsAtRegister && gate.cors !== undefined) {
      // Its onRequest hook would run after the gate, so 401s would go out without Allow-Origin.
      throw new Error(
        `${OWNER}: @fastify/cors is registered after @gatehouse/fastify in the same scope; register it first ` +
          'so its headers are on every reply, including rejections (or set cors: false)',
      )
    }
  })

  const isProtected = (config: { auth?: boolean; scopes?: unknown } | undefined): boolean => {
    if (config === undefined || config.auth === false) return false
    return routesMode === 'all' || config.auth === true || config.scopes !== undefined
  }

  /** Methods each protected URL answers, for preflight `Access-Control-Allow-Methods` and `Allow`. */
  const methodsByUrl = new Map<string, Set<string>>()

  fastify.addHook('onRoute', function checkRoute(route: RouteOptions) {
    const config = route.config ?? {}
    const where = `${OWNER}: route ${String(route.method)} ${route.url}`
    if (config.auth !== undefined && typeof config.auth !== 'boolean') {
      throw new TypeError(`${where}: config.auth must be a boolean`)
    }
    if (config.scopes !== undefined) {
      if (config.auth === false)
        throw new TypeError(`${where}: config.scopes on a route with config.auth false`)
      parseScopeRequirement(config.scopes, `${where} config.scopes`)
    }
    if (!isProtected(config)) return
    const methods = methodsByUrl.get(route.url) ?? new Set<string>()
    methodsByUrl.set(route.url, methods)
    for (const method of ([] as string[]).concat(route.method)) methods.add(method)
    if (gate.cors === undefined || methods.has('OPTIONS')) return
    // A preflight must reach this scope to be answered: give the URL an OPTIONS route unless it has one.
    methods.add('OPTIONS')
    if (this.hasRoute({ method: 'OPTIONS', url: route.url })) return
    this.route({
      method: 'OPTIONS',
      url: (route as RouteOptions & { routePath?: string }).routePath ?? route.url,
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
    const { severity, fields } = result.log
    if (severity === 'error') request.log.error(fields, 'access token verification failed unexpectedly')
    else request.log[logLevel](fields, 'request rejected by gatehouse')
    return reply.code(result.reply.status).headers(result.reply.headers).send(result.reply.body)
  }

  const authenticate = async (
    request: FastifyRequest,
    reply: FastifyReply,
    bodyToken: unknown,
    requirement: ScopeRequirement | undefined,
  ): Promise<FastifyReply | undefined> => {
    const result = await gate.authenticate({
      authorization: authorizationHeaders(request.raw.rawHeaders),
      bodyToken,
      // Resolved by Fastify's trustProxy setting; only the attempt limiter reads it.
      clientAddress: request.ip,
    })
    if (!result.ok) return sendRejection(request, reply, result)
    request.auth = result.auth
    if (requirement !== undefined) {
      const decision = gate.authorize(result.auth, requirement)
      if (!decision.ok) return sendRejection(request, reply, decision)
    }
    return undefined
  }

  const applyCors = (request: FastifyRequest, reply: FastifyReply) => {
    if (gate.cors === undefined || corsDelegated) return
    // A CORS layer whose hook ran first (e.g. @fastify/cors in a parent scope) has decided already.
    if (reply.hasHeader('access-control-allow-origin')) return
    const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined
    for (const [name, value] of Object.entries(gate.cors.responseHeaders(origin))) {
      if (name === 'Vary') reply.header('Vary', mergeHeaderList(headerText(reply.getHeader('vary')), [value]))
      else reply.header(name, value)
    }
  }

  // Requests that may carry a form-body token (RFC 6750 §2.2) are checked once the body is parsed:
  // a token in both header and body is a 400 (RFC 6750 §3.1).
  const deferred = new WeakSet<FastifyRequest>()

  const gateRequest: onRequestAsyncHookHandler = async function gateRequest(request, reply) {
    if (request.is404) return undefined
    const config = request.routeOptions.config
    if (!isProtected(config)) return undefined
    if (isPreflight(request.method, request.headers['access-control-request-method'])) {
      // A preflight never carries credentials (Fetch standard §3.2.5): answer it, never gate it.
      if (gate.cors === undefined || corsDelegated) return undefined
      const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined
      const methods = methodsByUrl.get(request.routeOptions.url ?? '') ?? new Set([request.method])
      const answer = gate.cors.preflight(origin, [...methods])
      return reply.code(answer.status).headers(answer.headers).send()
    }
    applyCors(request, reply)
    if (mayCarryFormToken(request)) {
      deferred.add(request)
      return undefined
    }
    return authenticate(request, reply, undefined, config.scopes)
  }

  const gateFormRequest: preValidationAsyncHookHandler = async function gateFormRequest(request, reply) {
    if (!deferred.has(request)) return undefined
    deferred.delete(request)
    const body = request.body
    const bodyToken =
      body !== null && typeof body === 'object' && Object.hasOwn(body, 'access_token')
        ? (body as Record<string, unknown>).access_token
        : undefined
    return authenticate(request, reply, bodyToken, request.routeOptions.config.scopes)
  }

  const exposeHeaders: onSendAsyncHookHandler = async function exposeHeaders(request, reply, payload) {
    if (gate.cors === undefined || request.is404 || !isProtected(request.routeOptions.config)) return payload
    if (isPreflight(request.method, request.headers['access-control-request-method'])) return payload
    // No grant for this origin: nothing to expose (as corsPolicy.responseHeaders answers).
    if (!reply.hasHeader('access-control-allow-origin')) return payload
    // Merged at the end so another CORS layer (@fastify/cors exposedHeaders) cannot drop WWW-Authenticate.
    const current = headerText(reply.getHeader('access-control-expose-headers'))
    reply.header('Access-Control-Expose-Headers', mergeHeaderList(current, gate.cors.exposeHeaders))
    return payload
  }

  fastify.addHook('onRequest', gateRequest)
  fastify.addHook('preValidation', gateFormRequest)
  fastify.addHook('onSend', exposeHeaders)

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

/**
 * Logs the key set events of the process (see `onKeySetEvent`): while held keys serve after a
 * failed refresh, no request fails, so the log is where an outage of the key endpoint shows.
 */
function reportKeySetEvents(fastify: FastifyInstance): void {
  if (keySetReporting.has(fastify.server)) return
  keySetReporting.add(fastify.server)
  const stop = onKeySetEvent(({ type, ...keySet }) => {
    if (type === 'refresh_failed') {
      fastify.log.warn({ keySet }, 'the signing keys of the authorization server could not be refreshed')
    } else {
      fastify.log.info({ keySet }, 'the signing keys of the authorization server were refreshed again')
    }
  })
  fastify.addHook('onClose', async () => {
    stop()
    keySetReporting.delete(fastify.server)
  })
}

/** True for a body-carrying request in `application/x-www-form-urlencoded` that this scope can parse. */
function mayCarryFormToken(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false
  const type = request.headers['content-type']
  if (typeof type !== 'string') return false
  const semicolon = type.indexOf(';')
  const media = (semicolon < 0 ? type : type.slice(0, semicolon)).trim().toLowerCase()
  return media === FORM_TYPE && request.server.hasContentTypeParser(FORM_TYPE)
}

function headerText(value: string | number | string[] | undefined): string | string[] | undefined {
  return typeof value === 'number' ? String(value) : value
}

/**
 * The Gatehouse Fastify plugin. See `GatehouseOptions`.
 *
 * @example
 * await app.register(gatehouse, { resource, authorizationServers: [issuer], verifier: jwtVerifier({ issuer, audience: resource }) })
 */
export const gatehouse = fp(gatehousePlugin, { name: OWNER, fastify: '5.x' })

/**
 * Serves the metadata document of a gate without protecting anything: for a gatehouse registered
 * under a route prefix (`metadataRoutes: false`), register this at the root with the same gate.
 *
 * @example
 * const gate = createGate({ resource, authorizationServers, verifier })
 * await app.register(gatehouseMetadata, { gate })
 * await app.register(async (api) => { await api.register(gatehouse, { gate, metadataRoutes: false }) }, { prefix: '/api' })
 */
export const gatehouseMetadata = fp(
  async function gatehouseMetadataPlugin(fastify: FastifyInstance, options: { gate: Gate }) {
    const { gate } = parseOptions(z.strictObject({ gate: gateSchema }), options, `${OWNER} gatehouseMetadata`)
    if (fastify.prefix !== '') {
      throw new Error(
        `${OWNER} gatehouseMetadata: register it where there is no route prefix (found "${fastify.prefix}")`,
      )
    }
    registerMetadataRoutes(fastify, gate)
  },
  { name: `${OWNER}/metadata`, fastify: '5.x' },
)
