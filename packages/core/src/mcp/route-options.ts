import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import type { RejectionLog } from '../gate/gate-types.js'
import { type ScopeRequirement, scopeRequirementSchema, scopeTokenSchema } from '../oauth/scopes.js'
import type { AuditEvent } from '../telemetry/audit.js'
import type { AuthInfo } from '../token/auth-info.js'
import type { McpScopeRegistry } from './declarations.js'
import type { McpListing } from './listing.js'
import type { McpScopeRules } from './scope-rules.js'
import { type McpSessionLimits, sessionLimitsSchema } from './sessions.js'

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
  /**
   * Where the route reads `withScopes` declarations from, and records which route hosts each server.
   * Default: the process-wide registry (`processScopeRegistry`, what plain `withScopes` records
   * into). Give an `mcpScopeRegistry()` and declare through its `withScopes` to keep this route's
   * declarations apart from every other in the process.
   */
  scopeRegistry?: McpScopeRegistry
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
      /** Set for an `insufficient_scope` rejection: its audit event (`step_up`, naming the MCP targets). */
      audit?: AuditEvent
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

export const RESERVED_TRANSPORT_OPTIONS = ['sessionIdGenerator', 'onsessioninitialized', 'onsessionclosed']
export const isFunction = (value: unknown) => typeof value === 'function'

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
    scopeRegistry: z
      .custom<McpScopeRegistry>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          isFunction((value as McpScopeRegistry).declarationsOf) &&
          isFunction((value as McpScopeRegistry).markHosted),
        { error: 'must be a registry made by mcpScopeRegistry()' },
      )
      .optional(),
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
