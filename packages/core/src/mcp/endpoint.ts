import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { stepUpAuditEvent } from '../gate/gate-audit.js'
import type { Gate } from '../gate/gate-types.js'
import { setCallerOn } from '../gate/request-state.js'
import { scopeDenial } from '../gate/scope-denial.js'
import { PortcullisError } from '../support/errors.js'
import { parseOptions } from '../support/options.js'
import { isThenable } from '../support/thenable.js'
import { auditing, publishAudit } from '../telemetry/audit.js'
import { addHealthPart, sessionTableHealth } from '../telemetry/health.js'
import type { AuthInfo } from '../token/auth-info.js'
import type { McpScopeRegistry } from './declarations.js'
import { isMcpEventStore, sessionEventStore } from './event-store.js'
import { hostServer } from './hosting.js'
import { announceListChanges, scopeSetKey } from './list-changes.js'
import { LISTS, mcpListingPolicy } from './listing.js'
import { principalKey, subjectKey } from './principal.js'
import {
  type McpDecision,
  type McpEndpoint,
  type McpEndpointRequest,
  type McpFactoryContext,
  type McpNodeHandler,
  type McpRouteOptions,
  type McpServerFactory,
  type McpServerLike,
  type McpTransportLike,
  mcpRouteOptionsSchema,
} from './route-options.js'
import { type McpScopeRules, type McpTarget, mcpScopeRules, messageTargets } from './scope-rules.js'
import { checkSdkInternals } from './sdk-compat.js'
import { type McpSession, McpSessionStore } from './sessions.js'
import { serveTraced } from './trace-context.js'

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
  const host = (server: McpServerLike, lists: boolean): McpServerLike => {
    hostServer(server, rules, { listing: lists ? listing : undefined, owner, registry: parsed.scopeRegistry })
    return server
  }
  /** A server for one caller, hosted; without a promise when the factory returns one at once. */
  const build = (context: McpFactoryContext, lists: boolean): McpServerLike | Promise<McpServerLike> => {
    const made = parsed.server(context)
    return isThenable(made) ? Promise.resolve(made).then((server) => host(server, lists)) : host(made, lists)
  }
  const factory = async (context: McpFactoryContext): Promise<McpServerLike> => build(context, true)

  if (parsed.probe ?? true) await learnDeclarations(parsed.server, rules, owner, parsed.scopeRegistry)
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
  // Object.assign, not a spread that adds members: an options object spread together from two
  // made the SDK 1.x transport's constructor cost 5 µs instead of 0.3 (Node 20), on every request
  // of a stateless route (bench/README.md, twelfth pass).
  const newTransport = (settings: Record<string, unknown>) =>
    new (Transport as unknown as new (o: Record<string, unknown>) => McpTransportLike)(
      Object.assign(
        {},
        transportOptions,
        isMcpEventStore(eventStore) ? { eventStore: sessionEventStore(eventStore) } : undefined,
        settings,
      ),
    )

  /** Runs `serve` with the caller on `req.auth`, answering 500 if the MCP server fails before answering. */
  const dispatch =
    (auth: AuthInfo, body: unknown, serve: McpNodeHandler) =>
    async (raw: IncomingMessage, res: ServerResponse, onError: (error: unknown) => void) => {
      const req = raw as IncomingMessage & { auth?: AuthInfo }
      setCallerOn(req, auth)
      try {
        await serveTraced(serve, req, res, body)
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

  /**
   * A server and transport for this request only. The server answers only the messages of this
   * body, so its list handlers are wrapped (per-caller lists) only when the body lists something.
   */
  const serveStateless = (auth: AuthInfo, body: unknown, lists: boolean): McpNodeHandler => {
    return async (req, res) => {
      const made = build({ era: 'legacy', authInfo: auth }, lists)
      const server = isThenable(made) ? await made : made
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
    // Whether the body may ask for a list (anything but a readable body of other requests may).
    let lists = true
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
      if (checked.body.kind === 'messages') {
        lists = false
        for (const m of checked.body.messages) {
          if (m.type !== 'request') continue
          if (m.method === 'initialize') initialize = true
          else if (m.method !== undefined && Object.hasOwn(LISTS, m.method)) lists = true
        }
      }
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
    return serve(auth, body, serveStateless(auth, body, lists))
  }

  const insufficientScope = (auth: AuthInfo, missing: string[], denied: McpTarget[]): McpDecision => {
    const { error, log } = scopeDenial(missing, describeDenial(missing, denied), auth.extra?.fingerprint)
    // Built on every 403 (a cold path): published when someone listens, and handed to the adapter's logger.
    const audit = stepUpAuditEvent(gate.resource, auth, error, denied)
    if (auditing()) publishAudit(audit)
    return { kind: 'reply', ...gate.reply(error), audit, log }
  }

  const path = parsed.path ?? (new URL(gate.resource).pathname || '/')
  const removeHealth =
    store === undefined
      ? () => {}
      : addHealthPart(gate, () => sessionTableHealth(path, store.size, store.maxSessions))
  return Object.freeze({
    path,
    rules,
    handle,
    close: async () => {
      removeHealth()
      await store?.closeAll()
    },
  })
}

/** Calls the factory once, without a caller, so the declared scopes are known before the first request. */
async function learnDeclarations(
  factory: McpServerFactory,
  rules: McpScopeRules,
  owner: string,
  registry: McpScopeRegistry | undefined,
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
  hostServer(server, rules, { listing: undefined, owner, registry })
  // Lists are shaped per caller through SDK internals: refuse to start if they are not there.
  try {
    checkSdkInternals(server, owner)
  } finally {
    await server.close().catch(() => {})
  }
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
