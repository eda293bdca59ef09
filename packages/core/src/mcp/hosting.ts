import { authInfoFrom, markHosted, scopeDeclarationsOf } from './declarations.js'
import { LISTS, type ListKind, type McpListingPolicy } from './listing.js'
import type { McpScopeRules } from './scope-rules.js'

type Handler = (request: unknown, context: unknown) => unknown

// Marks on the objects themselves, not WeakSet entries: a stateless route hosts a new server (and
// wraps its list handlers) for every request, and an ephemeron per object is collector work per request.
const FILTERED = Symbol.for('@portcullis/core filtered list handler')
const WATCHED = Symbol.for('@portcullis/core watched MCP server')
type Marked = { [FILTERED]?: true; [WATCHED]?: true }
const isMarked = (value: object, mark: typeof FILTERED | typeof WATCHED) => (value as Marked)[mark] === true

export interface HostOptions {
  /** How lists are shaped for each caller; `undefined` leaves them as the SDK builds them (the startup probe). */
  listing: McpListingPolicy | undefined
  /** Who hosts the server, for the error message. Default `mcpRoute`. */
  owner?: string
}

/**
 * Prepares a server instance (either SDK line) for serving behind the route: its `withScopes`
 * declarations join the route's rules, its guarded handlers check against those rules, and its
 * list handlers shape each list for the caller (`McpListing`: which items, and each item's
 * `_meta["portcullis/scopes"]`).
 *
 * The list shaping wraps the handlers the SDK's `McpServer` installs for `tools/list` and the other
 * lists: the SDKs offer no public hook to change a list per caller, so this reaches into the
 * protocol's handler table (`_requestHandlers`, present in `@modelcontextprotocol/sdk` 1.x and
 * `@modelcontextprotocol/server` 2.x). If a future SDK moves it, this throws rather than serve
 * lists that ignore the listing policy.
 */
export function hostServer(server: object, rules: McpScopeRules, options: HostOptions): void {
  for (const declaration of scopeDeclarationsOf(server)) {
    const { target, requirement } = declaration
    if (target.kind === 'tool') rules.declareTool(target.name, requirement)
    else if (target.kind === 'prompt') rules.declarePrompt(target.name, requirement)
    else rules.declareResource(target.uri, requirement, { template: declaration.template })
  }
  markHosted(server, rules)
  const listing = options.listing
  if (listing === undefined || isMarked(server, WATCHED)) return
  const protocol = protocolOf(server)
  if (protocol === undefined) {
    throw new Error(
      `${options.owner ?? 'mcpRoute'}: cannot shape tools/list on this MCP server (no request handler table ` +
        'found; an unsupported SDK version?)',
    )
  }
  ;(server as Marked)[WATCHED] = true
  const handlers = protocol._requestHandlers
  const wrapAll = () => {
    for (const [method, list] of Object.entries(LISTS)) {
      const handler = handlers.get(method)
      if (handler === undefined || isMarked(handler, FILTERED)) continue
      const wrapper: Handler = async (request, context) =>
        shapeList(await handler(request, context), list, listing, context)
      ;(wrapper as Marked)[FILTERED] = true
      handlers.set(method, wrapper)
    }
  }
  wrapAll()
  // McpServer installs a list handler when the first item of its kind is registered, which may
  // happen after this (tools added while serving): wrap those as they come.
  const setRequestHandler = protocol.setRequestHandler
  if (typeof setRequestHandler === 'function') {
    protocol.setRequestHandler = function watchedSetRequestHandler(this: unknown, ...args: unknown[]) {
      const result = setRequestHandler.apply(this, args)
      wrapAll()
      return result
    }
  }
}

interface ProtocolLike {
  _requestHandlers: Map<string, Handler>
  setRequestHandler?: (...args: unknown[]) => unknown
}

/** The protocol object holding the handler table: `McpServer.server`, or a low-level `Server` itself. */
function protocolOf(server: object): ProtocolLike | undefined {
  const inner = (server as { server?: unknown }).server
  for (const candidate of [inner, server]) {
    if (typeof candidate !== 'object' || candidate === null) continue
    if ((candidate as Partial<ProtocolLike>)._requestHandlers instanceof Map) return candidate as ProtocolLike
  }
  return undefined
}

function shapeList(result: unknown, kind: ListKind, listing: McpListingPolicy, context: unknown): unknown {
  if (typeof result !== 'object' || result === null) return result
  const items = (result as Record<string, unknown>)[kind.field]
  if (!Array.isArray(items)) return result
  // No caller (a server used outside the route): shaped as for a token with no scope.
  const granted = authInfoFrom(context)?.scopes ?? []
  const out: Record<string, unknown> = {
    ...(result as Record<string, unknown>),
    [kind.field]: listing.shape(items, kind, granted),
  }
  // MCP 2026-07-28 (SEP-2549): a list that depends on the caller (each item names what this
  // caller's token lacks) must not go into shared caches.
  if (isModernRequest(context)) out.cacheScope = 'private'
  return out
}

/** A 2026-07-28 request carries the per-request `_meta` envelope (2.x `ctx.mcpReq.envelope`). */
function isModernRequest(context: unknown): boolean {
  const mcpReq = (context as { mcpReq?: { envelope?: unknown } } | null)?.mcpReq
  return typeof mcpReq === 'object' && mcpReq !== null && mcpReq.envelope !== undefined
}
