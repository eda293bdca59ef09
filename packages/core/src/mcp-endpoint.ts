import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import type { AuthInfo } from './auth-info.js'
import { PortcullisError } from './errors.js'
import type { Gate, RejectionLog } from './gate.js'
import { auditStepUp } from './gate-audit.js'
import { isMcpEventStore, sessionEventStore } from './mcp-event-store.js'
import { hostServer } from './mcp-hosting.js'
import { announceListChanges, scopeSetKey } from './mcp-list-changes.js'
import { type McpListing, mcpListingPolicy } from './mcp-listing.js'
import { type McpScopeRules, type McpTarget, mcpScopeRules, messageTargets } from './mcp-request.js'
import {
  type McpSession,
  type McpSessionLimits,
  McpSessionStore,
  sessionLimitsSchema,
} from './mcp-sessions.js'
import { parseOptions } from './options.js'
import { principalKey, subjectKey } from './principal.js'
import { type ScopeRequirement, scopeRequirementSchema, scopeTokenSchema } from './scopes.js'

/** What the route hands a server factory: the caller (absent only for the startup probe) and the protocol era. */
export interface McpFactoryContext {
  /** `legacy` for 2025-era traffic (sessions, stateless), `modern` for 2026-07-28. */
  era: 'legacy' | 'modern'
  /** The verified caller. Undefined when the route calls the factory at startup to learn its declarations. */
  authInfo?: AuthInfo
}

/** The part of an MCP server (`McpServer` of either SDK line, or a low-level `Server`) the route uses. */
export interface McpServerLike {
  connect(transport: never): Promise<void>
  close(): Promise<void>
}

/** Builds a fresh MCP server. The same function serves sessions, stateless requests and `handler`. */
export type McpServerFactory = (context: McpFactoryContext) => McpServerLike | Promise<McpServerLike>

/**
 * The route's server factory as `handler` receives it: your `server` function, with each server
 * it builds prepared for the route. It resolves to what `server` returns (typed loosely so it fits
 * either SDK's factory type, e.g. `createMcpHandler(factory)`).
 */
export type McpRouteFactory = (context: McpFactoryContext) => Promise<any>

/** A Streamable HTTP server transport instance: 1.x `StreamableHTTPServerTransport`, 2.x `NodeStreamableHTTPServerTransport`. */
export interface McpTransportLike {
  readonly sessionId?: string | undefined
  onclose?: (() => void) | undefined
  handleRequest(
    req: IncomingMessage & { auth?: AuthInfo },
    res: ServerResponse,
    parsedBody?: unknown,
  ): Promise<void>
  close(): Promise<void>
}

/** A transport class of either SDK line (the route passes the session options). */
export type McpTransportClass = new (options: never) => McpTransportLike

/** A Node request handler that reads the caller from `req.auth`, e.g. `toNodeHandler(createMcpHandler(factory))`. */
export type McpNodeHandler = (
  req: IncomingMessage & { auth?: AuthInfo },
  res: ServerResponse,
  parsedBody?: unknown,
) => Promise<void>

/** Options of an MCP route, the same for every adapter. */
export interface McpRouteOptions {
  /** URL path of the endpoint. Default: the path of the gate's resource URL (`/mcp` for `https://host/mcp`). */
  path?: string
  /** Builds an MCP server, of either SDK line. Tools declared with `withScopes` carry their scopes. */
  server: McpServerFactory
  /**
   * The Streamable HTTP server transport class to serve with: `StreamableHTTPServerTransport`
   * (`@modelcontextprotocol/sdk/server/streamableHttp.js`) or `NodeStreamableHTTPServerTransport`
   * (`@modelcontextprotocol/node`).
   */
  transport?: McpTransportClass
  /**
   * With `transport`: 2025-era sessions bound to the caller (default `true`, or the limits), or
   * `false` for a fresh server and transport per request.
   */
  sessions?: boolean | Partial<McpSessionLimits>
  /** More options for the transport constructor (`enableJsonResponse`, `eventStore`, ...). */
  transportOptions?: Record<string, unknown>
  /**
   * Serves every request that is not part of a session, given the route's server factory. For the
   * 2.x SDK's 2026-07-28 entry: `(factory) => toNodeHandler(createMcpHandler(factory))`. With
   * `transport`, sessions still go to the transport and the rest to this handler.
   */
  handler?: (factory: McpRouteFactory) => McpNodeHandler
  /** Scopes of tools, prompts and resources registered without `withScopes` (tools you don't own), and a default. */
  scopes?: {
    tools?: Record<string, ScopeRequirement>
    prompts?: Record<string, ScopeRequirement>
    resources?: Record<string, ScopeRequirement>
    /** For whatever nothing declares. Default: none (any valid token). */
    undeclared?: ScopeRequirement
  }
  /**
   * What lists show each caller (`McpListing`): `obtainable` (default) lists what the caller may
   * use or obtain by a step-up (see `obtainableScopes`), `granted` only what its token may use,
   * `all` everything. Each item names its scopes in `_meta["portcullis/scopes"]` (`ListedScopes`).
   */
  listing?: McpListing
  /**
   * With `listing: 'obtainable'`: the scopes your authorization server may grant a client of this
   * route. An item needing another scope is listed only to callers that hold it. Default: every
   * scope a tool, prompt or resource declares.
   */
  obtainableScopes?: readonly string[]
  /** @deprecated `listing: 'all'` (`true`) or `listing: 'granted'` (`false`). */
  listAll?: boolean
  /** Most messages in a JSON-RPC batch (more: 413). Default 128. */
  maxBatch?: number
  /** Call the factory once at startup to learn the declared scopes. Default true. */
  probe?: boolean
  /**
   * Check at startup that every scope the metadata document advertises (`scopes_supported`) is one
   * a tool, prompt or resource needs, so the two cannot drift apart. Default true.
   */
  checkScopesSupported?: boolean
}

/** One request to the endpoint, as an adapter reads it. */
export interface McpEndpointRequest {
  method: string
  /** The `Mcp-Session-Id` header(s). */
  sessionId: string | string[] | undefined
  /** The parsed JSON body (POST). The SDK gets exactly this body: the one whose scopes were checked. */
  body: unknown
  /** The verified caller; `null`/`undefined` fails closed with 401. */
  auth: AuthInfo | null | undefined
}

/** What an adapter does with a request: send an answer, or let the SDK serve it. */
export type McpDecision =
  | {
      kind: 'reply'
      status: number
      headers: Record<string, string>
      body: unknown
      /** Set for an `insufficient_scope` rejection: what to log (never the token). */
      log?: RejectionLog
    }
  | {
      kind: 'serve'
      /**
       * Hands the request to the SDK with the caller on `req.auth`. Never rejects: a failure of
       * the MCP server is reported to `onError` and answered 500 if nothing was sent yet.
       */
      serve(req: IncomingMessage, res: ServerResponse, onError: (error: unknown) => void): Promise<void>
    }

/** The adapter-neutral MCP endpoint behind a gate: every rule of the MCP route, no framework. */
export interface McpEndpoint {
  /** The URL path the adapter routes POST, GET and DELETE of to `handle`. */
  readonly path: string
  readonly rules: McpScopeRules
  handle(request: McpEndpointRequest): McpDecision
  /** Closes every open session. */
  close(): Promise<void>
}

const RESERVED_TRANSPORT_OPTIONS = ['sessionIdGenerator', 'onsessioninitialized', 'onsessionclosed']
const isFunction = (value: unknown) => typeof value === 'function'

/** zod schema of `McpRouteOptions`. */
export const mcpRouteOptionsSchema = z
  .strictObject({
    path: z.string().startsWith('/', 'must start with /').optional(),
    server: z.custom<McpServerFactory>(isFunction, {
      error: 'must be a function that returns an MCP server',
    }),
    transport: z
      .custom<McpTransportClass>(isFunction, { error: 'must be a Streamable HTTP server transport class' })
      .optional(),
    sessions: z.union([z.boolean(), sessionLimitsSchema]).optional(),
    transportOptions: z
      .record(z.string(), z.unknown())
      .refine((value) => RESERVED_TRANSPORT_OPTIONS.every((key) => !Object.hasOwn(value, key)), {
        error: `must not set ${RESERVED_TRANSPORT_OPTIONS.join(', ')}: the route manages sessions`,
      })
      .optional(),
    handler: z
      .custom<(factory: McpRouteFactory) => McpNodeHandler>(isFunction, { error: 'must be a function' })
      .optional(),
    scopes: z
      .strictObject({
        tools: z.record(z.string(), scopeRequirementSchema).optional(),
        prompts: z.record(z.string(), scopeRequirementSchema).optional(),
        resources: z.record(z.string(), scopeRequirementSchema).optional(),
        undeclared: scopeRequirementSchema.optional(),
      })
      .optional(),
    listing: z.enum(['obtainable', 'granted', 'all']).optional(),
    obtainableScopes: z.array(scopeTokenSchema).readonly().optional(),
    listAll: z.boolean().optional(),
    maxBatch: z.number().int().min(1).max(100_000).optional(),
    probe: z.boolean().optional(),
    checkScopesSupported: z.boolean().optional(),
  })
  .refine((value) => value.transport !== undefined || value.handler !== undefined, {
    error: 'give a transport class (transport) or a handler (handler), or both',
  })
  .refine((value) => value.listing === undefined || value.listAll === undefined, {
    path: ['listAll'],
    error: "listAll is the former name of listing: give listing only ('obtainable', 'granted' or 'all')",
  })
  .refine(
    (value) => value.obtainableScopes === undefined || (value.listing ?? 'obtainable') === 'obtainable',
    { path: ['obtainableScopes'], error: "obtainableScopes applies to listing: 'obtainable' only" },
  )
  .refine((value) => value.sessions === undefined || value.transport !== undefined, {
    path: ['sessions'],
    error: 'sessions need a transport class (transport)',
  })

type SessionEntry = McpSession & {
  transport: McpTransportLike
  server: McpServerLike
  /** `scopeSetKey` of the scopes the session's lists were last shaped for. */
  scopes: string
}

/**
 * The MCP Streamable HTTP endpoint behind a gate, for either MCP SDK line, as plain decisions an
 * adapter carries out. For every POST it reads the JSON-RPC body before the SDK does: a
 * `tools/call`, `prompts/get` or `resources/read` whose scopes the token lacks is answered 403
 * with one `insufficient_scope` challenge naming every scope the whole body (batch included) is
 * missing, minimal under implication (MCP 2026-07-28 §Runtime Insufficient Scope Errors). The
 * caller reaches handlers as the SDK expects it (`req.auth` → `extra.authInfo` in 1.x,
 * `ctx.http.authInfo` in 2.x); lists follow the `listing` policy; 2025-era sessions are
 * bound to the principal that created them (another principal gets 404, as for an unknown session).
 *
 * Options are validated, the server factory probed and `scopes_supported` checked here, so every
 * adapter fails at startup the same way, naming `owner`.
 *
 * @example
 * const endpoint = await createMcpEndpoint(gate, { server: buildServer, transport: StreamableHTTPServerTransport }, 'my-adapter')
 * const decision = endpoint.handle({ method: 'POST', sessionId: req.headers['mcp-session-id'], body, auth: req.auth })
 * if (decision.kind === 'reply') send(decision)
 * else await decision.serve(req, res, (error) => log.error(error))
 */
export async function createMcpEndpoint(
  gate: Gate,
  options: McpRouteOptions,
  owner: string,
): Promise<McpEndpoint> {
  const parsed = parseOptions(mcpRouteOptionsSchema, options, owner)
  const rules = mcpScopeRules({
    policy: gate.policy,
    ...(parsed.scopes as Omit<McpRouteOptions['scopes'], never>),
    ...(parsed.maxBatch === undefined ? {} : { maxBatch: parsed.maxBatch }),
  })
  const listing = mcpListingPolicy(
    rules,
    parsed.listing ?? (parsed.listAll === undefined ? 'obtainable' : parsed.listAll ? 'all' : 'granted'),
    parsed.obtainableScopes,
  )
  const factory = async (context: McpFactoryContext): Promise<McpServerLike> => {
    const server = await parsed.server(context)
    hostServer(server, rules, { listing, owner })
    return server
  }

  if (parsed.probe ?? true) await learnDeclarations(parsed.server, rules, owner)
  if (parsed.checkScopesSupported ?? true) checkScopesSupported(gate, rules, owner)

  const Transport = parsed.transport
  const store =
    Transport !== undefined && parsed.sessions !== false
      ? new McpSessionStore<SessionEntry>(typeof parsed.sessions === 'object' ? parsed.sessions : {})
      : undefined
  const handler = parsed.handler?.(factory)
  const transportOptions = parsed.transportOptions ?? {}

  // One event store for the route, one view of it per transport: no session replays another's events.
  const { eventStore } = transportOptions
  const newTransport = (settings: Record<string, unknown>) =>
    new (Transport as unknown as new (o: Record<string, unknown>) => McpTransportLike)({
      ...transportOptions,
      ...(isMcpEventStore(eventStore) ? { eventStore: sessionEventStore(eventStore) } : {}),
      ...settings,
    })

  /** Runs `serve` with the caller on `req.auth`, answering 500 if the MCP server fails before answering. */
  const dispatch =
    (auth: AuthInfo, body: unknown, serve: McpNodeHandler) =>
    async (raw: IncomingMessage, res: ServerResponse, onError: (error: unknown) => void) => {
      const req = raw as IncomingMessage & { auth?: AuthInfo }
      req.auth = auth
      try {
        await serve(req, res, body)
      } catch (error) {
        onError(error)
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json' })
          res.end(
            JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null }),
          )
        } else if (!res.writableEnded) {
          res.end()
        }
      }
    }

  /** A new 2025-era session for this caller, created by its `initialize` request. */
  const openSession = (auth: AuthInfo, principal: string, body: unknown): McpNodeHandler => {
    const subject = subjectKey(auth)
    return async (req, res) => {
      const server = await factory({ era: 'legacy', authInfo: auth })
      const close = () => server.close().catch(() => {})
      const transport: McpTransportLike = newTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id: string) =>
          store!.add({ id, principal, subject, transport, close, server, scopes: scopeSetKey(auth.scopes) }),
        onsessionclosed: (id: string) => store!.forget(id),
      })
      transport.onclose = () => {
        if (transport.sessionId !== undefined) store!.forget(transport.sessionId)
      }
      await server.connect(transport as never)
      await transport.handleRequest(req, res, body)
      // A refused initialize opens no session: nothing keeps the pair.
      if (transport.sessionId === undefined) await close()
    }
  }

  const serveStateless = (auth: AuthInfo, body: unknown): McpNodeHandler => {
    return async (req, res) => {
      const server = await factory({ era: 'legacy', authInfo: auth })
      const transport = newTransport({ sessionIdGenerator: undefined })
      res.on('close', () => {
        transport.close().catch(() => {})
        server.close().catch(() => {})
      })
      await server.connect(transport as never)
      await transport.handleRequest(req, res, body)
    }
  }

  const serve = (auth: AuthInfo, body: unknown, handle: McpNodeHandler): McpDecision => ({
    kind: 'serve',
    serve: dispatch(auth, body, handle),
  })

  const handle = (request: McpEndpointRequest): McpDecision => {
    const { auth, body } = request
    if (auth === null || auth === undefined) {
      // The gate protects this route; without a caller something is misconfigured: fail closed.
      const answer = gate.reply(
        new PortcullisError('invalid_token', 'credentials_missing', 'An access token is required'),
      )
      return { kind: 'reply', ...answer }
    }
    // Only sessions are bound to a principal: stateless serving needs no key.
    const principal = store === undefined ? '' : principalKey(auth)
    if (Array.isArray(request.sessionId)) {
      return jsonRpcError(400, -32600, 'Bad Request: one Mcp-Session-Id header at most')
    }

    let session: SessionEntry | undefined
    if (store !== undefined && request.sessionId !== undefined) {
      // Another principal's session is answered exactly as an unknown one (the SDK's own 404).
      session = store.find(request.sessionId, principal)
      if (session === undefined) return jsonRpcError(404, -32001, 'Session not found')
    }

    let initialize = false
    if (request.method === 'POST') {
      const checked = rules.check(body, auth.scopes)
      if (checked.body.kind === 'too_large') {
        return jsonRpcError(413, -32600, `A JSON-RPC batch of more than ${checked.body.limit} messages`)
      }
      if (checked.missing.length > 0) {
        const denied =
          checked.body.kind === 'messages'
            ? checked.body.messages.flatMap((m) =>
                m.type === 'request' ? messageTargets(m).filter((t) => !rules.allows(t, auth.scopes)) : [],
              )
            : []
        return insufficientScope(auth, checked.missing, denied)
      }
      initialize =
        checked.body.kind === 'messages' &&
        checked.body.messages.some((m) => m.type === 'request' && m.method === 'initialize')
    }

    if (session !== undefined) {
      const [target, id] = [session, request.sessionId as string]
      // The same principal with other scopes (a step-up): its lists are shaped anew, say so.
      const scopes = scopeSetKey(auth.scopes)
      const changed = scopes !== target.scopes
      target.scopes = scopes
      return serve(auth, body, async (req, res, parsedBody) => {
        // A session with a request open (an SSE stream included) is live: never evicted for another.
        res.once('close', store!.track(id))
        await target.transport.handleRequest(req, res, parsedBody)
        // A failed announcement must not cut the answer's stream: the client re-lists anyway.
        if (changed) await announceListChanges(target.server)
      })
    }
    if (store !== undefined && initialize) {
      const wait = store.admit({ principal, subject: subjectKey(auth) })
      if (wait !== undefined) {
        return jsonRpcError(503, -32000, 'Service Unavailable: too many open sessions', {
          'Retry-After': String(wait),
        })
      }
      return serve(auth, body, openSession(auth, principal, body))
    }
    if (handler !== undefined) return serve(auth, body, handler)
    if (store !== undefined) {
      return request.method === 'POST'
        ? jsonRpcError(400, -32000, 'Bad Request: No valid session ID provided')
        : jsonRpcError(400, -32000, 'Bad Request: Mcp-Session-Id header is required')
    }
    if (request.method !== 'POST') return jsonRpcError(405, -32000, 'Method not allowed.', { Allow: 'POST' })
    return serve(auth, body, serveStateless(auth, body))
  }

  const insufficientScope = (auth: AuthInfo, missing: string[], denied: McpTarget[]): McpDecision => {
    const error = new PortcullisError(
      'insufficient_scope',
      'scope_insufficient',
      describeDenial(missing, denied),
      {
        scopes: missing,
      },
    )
    const answer = gate.reply(error)
    auditStepUp(gate.resource, auth, error, denied)
    const fingerprint = auth.extra?.fingerprint
    return {
      kind: 'reply',
      ...answer,
      log: {
        severity: 'rejection',
        fields: {
          reason: error.reason,
          status: answer.status,
          ...(fingerprint === undefined ? {} : { fingerprint }),
          missingScopes: missing,
        },
      },
    }
  }

  return Object.freeze({
    path: parsed.path ?? (new URL(gate.resource).pathname || '/'),
    rules,
    handle,
    close: async () => {
      await store?.closeAll()
    },
  })
}

/** Calls the factory once, without a caller, so the declared scopes are known before the first request. */
async function learnDeclarations(
  factory: McpServerFactory,
  rules: McpScopeRules,
  owner: string,
): Promise<void> {
  let server: McpServerLike
  try {
    server = await factory({ era: 'legacy' })
  } catch (error) {
    throw new Error(
      `${owner}: the server factory failed when called at startup without a caller (to learn the declared ` +
        `scopes): ${(error as Error).message}. Make it work without authInfo, or set probe: false`,
      { cause: error },
    )
  }
  hostServer(server, rules, { listing: undefined, owner })
  await server.close().catch(() => {})
}

function checkScopesSupported(gate: Gate, rules: McpScopeRules, owner: string): void {
  const advertised = gate.metadataDocument.scopes_supported
  if (!Array.isArray(advertised)) return
  const declared = new Set(rules.declaredScopes())
  const stray = advertised.filter((scope) => !declared.has(scope))
  if (stray.length === 0) return
  throw new Error(
    `${owner}: scopes_supported advertises ${stray.join(', ')}, which no tool, prompt or resource needs ` +
      `(declared: ${[...declared].join(', ') || 'none'}). Fix the gate's scopes.base / scopes.supported, ` +
      'or set checkScopesSupported: false if other routes need them',
  )
}

function describeDenial(missing: readonly string[], denied: readonly McpTarget[]): string {
  const scopes = `the scope${missing.length === 1 ? '' : 's'} ${missing.join(' ')}`
  const distinct = new Set(denied.map((t) => (t.kind === 'resource' ? `r:${t.uri}` : `${t.kind}:${t.name}`)))
  if (distinct.size !== 1) return `This request requires ${scopes}`
  const target = denied[0]!
  const what =
    target.kind === 'resource'
      ? `Resource ${shown(target.uri)}`
      : `${target.kind === 'tool' ? 'Tool' : 'Prompt'} ${shown(target.name)}`
  return `${what} requires ${scopes}`
}

/** A client-chosen name in a description: echoed, but not at any length. */
const shown = (text: string) => (text.length <= 80 ? text : `${text.slice(0, 77)}...`)

function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): McpDecision {
  return {
    kind: 'reply',
    status,
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: { jsonrpc: '2.0', error: { code, message }, id: null },
  }
}
