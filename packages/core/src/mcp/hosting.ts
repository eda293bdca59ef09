import { authInfoFrom, type McpScopeRegistry, processScopeRegistry } from './declarations.js'
import { LISTS, type ListKind, type McpListingPolicy } from './listing.js'
import type { McpScopeRules } from './scope-rules.js'
import { wrapRequestHandlers } from './sdk-compat.js'

export interface HostOptions {
  /** How lists are shaped for each caller; `undefined` leaves them as the SDK builds them (the startup probe). */
  listing: McpListingPolicy | undefined
  /** Who hosts the server, for the error message. Default `mcpRoute`. */
  owner?: string
  /** Where the server's `withScopes` declarations are. Default: the process-wide registry. */
  registry?: McpScopeRegistry
}

/**
 * Prepares a server instance (either SDK line) for serving behind the route: its `withScopes`
 * declarations join the route's rules, its guarded handlers check against those rules, and its
 * list handlers shape each list for the caller (`McpListing`: which items, and each item's
 * `_meta["portcullis/scopes"]`).
 *
 * The SDKs offer no public hook to change a list per caller: the list handlers are wrapped
 * through `sdk-compat.ts`, which throws (naming the field and the SDK line) rather than serve lists
 * that ignore the listing policy if a future SDK moves what it relies on.
 */
export function hostServer(server: object, rules: McpScopeRules, options: HostOptions): void {
  const registry = options.registry ?? processScopeRegistry
  for (const declaration of registry.declarationsOf(server)) {
    const { target, requirement } = declaration
    if (target.kind === 'tool') rules.declareTool(target.name, requirement)
    else if (target.kind === 'prompt') rules.declarePrompt(target.name, requirement)
    else rules.declareResource(target.uri, requirement, { template: declaration.template })
  }
  registry.markHosted(server, rules)
  const listing = options.listing
  if (listing === undefined) return
  wrapRequestHandlers(
    server,
    Object.keys(LISTS),
    (method, handler) => async (request, context) =>
      shapeList(await handler(request, context), LISTS[method]!, listing, context),
    options.owner ?? 'mcpRoute',
  )
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
