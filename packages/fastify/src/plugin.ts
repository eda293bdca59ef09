import type { Gate, ScopeRequirement, VerifiedAuthInfo } from '@portcullis/core'
import {
  type Admission,
  type Answering,
  answersPreflight,
  applyAdmission,
  applyCorsBeside,
  applyExposeHeadersAtSend,
  authenticateAndAdmit,
  decideRoute,
  FORM_MEDIA_TYPE,
  gateFromAdapterOptions,
  gateInput,
  gateOption,
  loggingAdapterOptionsShape,
  mayCarryFormToken,
  parseScopeArgs,
  type RouteDecision,
  type RouteDeclaration,
  RouteMethodsBook,
  requestFormToken,
  scopeRefusal,
} from '@portcullis/core/adapter'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onSendHookHandler,
  preHandlerHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import { routeConfigOf } from './fastify-compat.js'
import { registerMetadataRoutes } from './metadata-routes.js'
import type { PortcullisOptions } from './plugin-options.js'
import { reportKeySetEvents, setReporters } from './reporters.js'
import type { RequireScopesArgs } from './types.js'

const OWNER = '@portcullis/fastify'
/** Options renamed to the Express adapter's names: refused with the new name. */
const RENAMED = { logLevel: 'onRejection', auditLog: 'onAudit' }

/** Where a route's config carries its decision (Fastify keeps a copy of `config` per route). */
const ROUTE_DECISION = Symbol('portcullis route decision')
/** Request slots: the decision of a request the gate took on, and a gate waiting for the form body. */
const GATED = Symbol('portcullis gated')
const AWAITING_BODY = Symbol('portcullis awaiting body')

type DecidedConfig = RouteDeclaration & { url?: string; [ROUTE_DECISION]?: RouteDecision }
type GateSlots = { [GATED]: RouteDecision | null; [AWAITING_BODY]: boolean }

/** How the gate's decisions are written on a Fastify request and reply. */
const answering: Answering<FastifyRequest, FastifyReply> = {
  get: (reply, name) => reply.getHeader(name),
  set: (reply, name, value) => void reply.header(name, value),
  setCaller: (request, auth) => {
    request.auth = auth
  },
  send: (reply, { status, headers, body }) => void reply.code(status).headers(headers).send(body),
}

/**
 * Makes every route of the Fastify scope it is registered in an OAuth 2.1 protected resource (MCP
 * authorization, RFC 6750, RFC 9728): `request.auth` or a 401/400/503 challenge, route scopes (403),
 * the metadata document, CORS, key set outages logged. `fastify-plugin`: it protects the scope it
 * is registered in (once per scope). See the README.
 *
 * @example
 * await app.register(portcullis, { resource, authorizationServers: [issuer], verifier })
 * app.get('/reports', { config: { scopes: ['reports:read'] } }, async (req) => req.auth.extra.sub)
 */
async function portcullisPlugin(fastify: FastifyInstance, options: PortcullisOptions): Promise<void> {
  if (options !== null && typeof options === 'object' && 'prefix' in options) {
    throw new TypeError(
      `${OWNER}: option "prefix" has no effect: the plugin protects the scope it is registered in. ` +
        'Register it inside an encapsulated plugin (app.register(async (scope) => { await scope.register(portcullis, ...) }, { prefix }))',
    )
  }
  const { gate, own } = gateFromAdapterOptions(options, OWNER, loggingAdapterOptionsShape, RENAMED)
  const routesMode = own.routes ?? 'all'
  if (fastify.hasDecorator('gate')) {
    throw new Error(
      `${OWNER}: already registered in this scope or a parent scope (or another plugin decorates "gate"). ` +
        'Each protected resource needs its own encapsulated scope: app.register(async (scope) => { await scope.register(portcullis, ...) })',
    )
  }
  const serveMetadata = own.metadataRoutes ?? true
  if (serveMetadata && fastify.prefix !== '') {
    throw new Error(
      `${OWNER}: registered under the route prefix "${fastify.prefix}", where the metadata document ` +
        `cannot be served at ${gate.metadataPaths.join(', ')}. Set metadataRoutes: false and register ` +
        'portcullisMetadata with the same gate at the root',
    )
  }

  fastify.decorate('gate', gate)
  const reporters = setReporters(gate, own)
  reportKeySetEvents(fastify, own.onKeySetEvent)
  // undefined until the gate verifies the caller (Fastify wants decorators declared up front).
  if (!fastify.hasRequestDecorator('auth'))
    fastify.decorateRequest('auth', undefined as unknown as VerifiedAuthInfo)
  fastify.decorateRequest(GATED, null)
  fastify.decorateRequest(AWAITING_BODY, false)

  // Whether @fastify/cors answers preflights and sets Allow-Origin here; sure once the scope loaded.
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

  /** A route's decision: made when it was added, or (a route added before this plugin) now, once. */
  const decisionOf = (config: DecidedConfig): RouteDecision => {
    const decided = config[ROUTE_DECISION]
    if (decided !== undefined) return decided
    const decision = decideRoute(config, routesMode, `${OWNER}: route ${String(config.url)}`)
    config[ROUTE_DECISION] = decision
    return decision
  }

  /** Methods each protected URL answers, for a preflight's `Access-Control-Allow-Methods` and `Allow`. */
  const methodsByUrl = new RouteMethodsBook()

  fastify.addHook('onRoute', function checkRoute(route) {
    const config = route.config ?? {}
    const decision = decideRoute(config, routesMode, `${OWNER}: route ${String(route.method)} ${route.url}`)
    route.config = { ...config, [ROUTE_DECISION]: decision } as typeof config
    if (!decision.gated) return
    // Fastify adds the HEAD route of a GET route itself (this hook sees it): no HEAD implied.
    const methods = methodsByUrl.add(route.url, ([] as string[]).concat(route.method), false)
    if (gate.cors === undefined || methods === undefined) return
    // A preflight must reach this scope to be answered: give the URL an OPTIONS route unless it has one.
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
        reply.header('Allow', methods.join(', '))
        return reply.code(204).header('Content-Length', '0').send()
      },
    })
  })

  /** Authenticates and checks `requirement`: `done()` when the request may go on, else the refusal is sent. */
  const authenticateThen = (
    request: FastifyRequest,
    reply: FastifyReply,
    bodyToken: unknown,
    requirement: ScopeRequirement | undefined,
    done: HookHandlerDoneFunction,
  ): void => {
    // request.ip is resolved by Fastify's trustProxy setting on every read: only when the limiter asks.
    const input = gateInput(request.raw, request.method, request.url, bodyToken, () => request.ip)
    const then = (admission: Admission) =>
      applyAdmission(answering, gate, request, reply, admission) && done()
    authenticateAndAdmit(gate, reporters, request, input, requirement, then, done)
  }

  const applyCors = (request: FastifyRequest, reply: FastifyReply) => {
    if (gate.cors !== undefined && !corsDelegated)
      applyCorsBeside(gate.cors, request.headers.origin, reply, answering)
  }

  // Callback-style hooks: Fastify runs them without a promise per request.
  fastify.addHook('onRequest', function gateRequest(request, reply, done) {
    const config = routeConfigOf(request) as DecidedConfig | undefined
    // Fastify's `request.is404`: the not-found handler's route has no URL.
    if (config?.url === undefined) return done()
    const decision = decisionOf(config)
    if (!decision.gated) return done()
    // A preflight @fastify/cors passed on, or any with `cors: false`, is gated like any request.
    const preflightMethod = request.headers['access-control-request-method']
    if (answersPreflight(request.method, preflightMethod, gate.cors, corsDelegated)) {
      const methods = methodsByUrl.at(config.url) ?? [request.method]
      const answer = gate.cors.preflight(request.headers.origin, methods)
      return void reply.code(answer.status).headers(answer.headers).send()
    }
    const slots = request as unknown as GateSlots
    slots[GATED] = decision
    applyCors(request, reply)
    // A form-body token (RFC 6750 §2.2) is read once the body is parsed: header and body is a 400 (§3.1).
    if (
      mayCarryFormToken(request.method, request.headers['content-type']) &&
      request.server.hasContentTypeParser(FORM_MEDIA_TYPE)
    ) {
      slots[AWAITING_BODY] = true
      return done()
    }
    authenticateThen(request, reply, undefined, decision.requirement, done)
  })

  fastify.addHook('preValidation', function gateFormRequest(request, reply, done) {
    const slots = request as unknown as GateSlots
    if (!slots[AWAITING_BODY]) return done()
    slots[AWAITING_BODY] = false
    const bodyToken = requestFormToken(request.method, request)
    authenticateThen(request, reply, bodyToken, slots[GATED]?.requirement, done)
  })

  // @fastify/cors may set its headers after the gate's (its `hook` option: preHandler, ...),
  // replacing the exposed list: merged again as the answer leaves. Without it, the gate set them
  // last in onRequest; a handler that sets its own list on its answer means it (and no onSend hook
  // costs every request a dispatch).
  if (gate.cors !== undefined && corsAtRegister) {
    const cors = gate.cors
    const exposeHeaders: onSendHookHandler = function exposeHeaders(request, reply, payload, done) {
      if ((request as unknown as GateSlots)[GATED] !== null) applyExposeHeadersAtSend(cors, reply, answering)
      return done(null, payload)
    }
    fastify.addHook('onSend', exposeHeaders)
  }

  // A callback hook, like the gate's: no promise per guarded request.
  fastify.decorate(
    'requireScopes',
    function requireScopes(...args: RequireScopesArgs): preHandlerHookHandler {
      const requirement = parseScopeArgs(args, `${OWNER}: requireScopes`)
      return function scopeGuard(request, reply, done) {
        // On a route the gate does not protect, authenticate here rather than let it through (fail closed).
        if (request.auth === undefined) {
          applyCors(request, reply)
          return authenticateThen(request, reply, undefined, requirement, done)
        }
        const refusal = scopeRefusal(gate, reporters, request, request.auth, requirement)
        if (refusal === undefined) return done()
        answering.send(reply, refusal)
      }
    },
  )

  if (serveMetadata) registerMetadataRoutes(fastify, gate)
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
 * await app.register(portcullisMetadata, { gate })
 * await app.register(async (api) => { await api.register(portcullis, { gate, metadataRoutes: false }) }, { prefix: '/api' })
 */
export const portcullisMetadata = fp(
  async function portcullisMetadataPlugin(fastify: FastifyInstance, options: { gate: Gate }) {
    const owner = `${OWNER} portcullisMetadata`
    const gate = gateOption(options, owner)
    if (fastify.prefix !== '') {
      throw new Error(`${owner}: register it where there is no route prefix (found "${fastify.prefix}")`)
    }
    registerMetadataRoutes(fastify, gate)
  },
  { name: `${OWNER}/metadata`, fastify: '5.x' },
)
