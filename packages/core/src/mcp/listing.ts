import type { McpScopeRules, McpTarget } from './scope-rules.js'

/**
 * What `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list` show a caller:
 * - `obtainable` (default): what the caller may use, plus what it may obtain by a step-up. A
 *   resource server cannot see which scopes the authorization server would grant a user (roles
 *   live there), so "may obtain" means: every scope the item needs is one of the route's
 *   `obtainableScopes`, by default every scope the route declares (so every item is listed). The
 *   client sees the tool, calls it, gets the 403 `insufficient_scope` challenge naming what is
 *   missing and re-authorizes (MCP 2026-07-28 §Step-Up Authorization Flow); an authorization
 *   server that refuses ends that in a second 403. Narrow `obtainableScopes` to what your
 *   authorization server grants at all to keep, say, admin tools out of everyone else's lists.
 * - `granted`: only what the caller's token may use already (SEP-1881 scope-filtered discovery);
 *   step-up is then reachable only by a client that calls a tool it was not shown.
 * - `all`: every item.
 *
 * In every mode each listed item carries `_meta["portcullis/scopes"]` (`ListedScopes`).
 */
export type McpListing = 'obtainable' | 'granted' | 'all'

/** The namespaced `_meta` key (MCP 2025-06-18 §General fields: `_meta`) under which each listed item names its scopes. */
export const SCOPES_META_KEY = 'portcullis/scopes'

/** The value of `_meta["portcullis/scopes"]` on a listed tool, prompt, resource or resource template. */
export interface ListedScopes {
  /**
   * The scopes a token needs to use the item, as a 403 challenge would name them to a token with
   * none (minimal under implication; for an any-of requirement, its first scope). `[]`: any valid token.
   */
  required: string[]
  /** The scopes this caller's token lacks for the item: the `scope` of the 403 it would get. `[]`: it may use it. */
  missing: string[]
}

/** One list method's result field and how to read an item's target. */
export interface ListKind {
  field: string
  target(item: Record<string, unknown>): McpTarget | undefined
}

/** The list methods a route shapes per caller, and how to read an item of each. */
export const LISTS: Readonly<Record<string, ListKind>> = {
  'tools/list': { field: 'tools', target: (item) => named('tool', item.name) },
  'prompts/list': { field: 'prompts', target: (item) => named('prompt', item.name) },
  'resources/list': { field: 'resources', target: (item) => addressed(item.uri) },
  // A completion or a read names the template itself; the rules match the template text exactly.
  'resources/templates/list': { field: 'resourceTemplates', target: (item) => addressed(item.uriTemplate) },
}

const named = (kind: 'tool' | 'prompt', name: unknown): McpTarget | undefined =>
  typeof name === 'string' ? { kind, name } : undefined
const addressed = (uri: unknown): McpTarget | undefined =>
  typeof uri === 'string' ? { kind: 'resource', uri } : undefined

/**
 * The listing rule of one route: which items a caller sees and what each says about its scopes.
 *
 * @example
 * const listing = mcpListingPolicy(rules, 'obtainable', ['notes:read', 'notes:write'])
 * listing.shape(result.tools, LISTS['tools/list'], authInfo.scopes)
 */
export interface McpListingPolicy {
  readonly listing: McpListing
  /** The items `granted` may see, each with `_meta["portcullis/scopes"]` added (its other `_meta` kept). */
  shape(items: readonly unknown[], kind: ListKind, granted: readonly string[]): unknown[]
}

export function mcpListingPolicy(
  rules: McpScopeRules,
  listing: McpListing,
  /** For `obtainable`: the scopes a client may obtain; `undefined`: every scope the rules declare. */
  obtainableScopes?: readonly string[],
): McpListingPolicy {
  const visible = (target: McpTarget, granted: readonly string[]): boolean => {
    if (listing === 'all') return true
    if (listing === 'granted') return rules.allows(target, granted)
    return obtainableScopes === undefined || rules.allows(target, [...granted, ...obtainableScopes])
  }

  return Object.freeze({
    listing,
    shape(items: readonly unknown[], kind: ListKind, granted: readonly string[]) {
      const out: unknown[] = []
      for (const item of items) {
        if (typeof item !== 'object' || item === null) {
          out.push(item)
          continue
        }
        const target = kind.target(item as Record<string, unknown>)
        if (target === undefined) {
          out.push(item)
          continue
        }
        if (!visible(target, granted)) continue
        // The same rule as the 403: the scopes a call of this item would be challenged for.
        const probe = probeRequest(target)
        const scopes: ListedScopes = {
          required: rules.requiredFor(probe, []),
          missing: rules.requiredFor(probe, granted),
        }
        const meta = (item as { _meta?: unknown })._meta
        out.push({
          ...(item as Record<string, unknown>),
          _meta: { ...(isRecord(meta) ? meta : {}), [SCOPES_META_KEY]: scopes },
        })
      }
      return out
    },
  })
}

/** The request that uses a target: what the route's 403 rule is asked about. */
function probeRequest(target: McpTarget) {
  const [method, params] =
    target.kind === 'tool'
      ? ['tools/call', { name: target.name }]
      : target.kind === 'prompt'
        ? ['prompts/get', { name: target.name }]
        : ['resources/read', { uri: target.uri }]
  return { jsonrpc: '2.0', id: 0, method, params }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
