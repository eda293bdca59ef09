// Which routes the gate protects and what they need, decided once per route (or per public-path
// list) when the application is set up, never per request. Both adapters use these rules.
import type { ScopeRequirement } from '../oauth/scopes.js'
import type { RoutesMode } from './adapter-options.js'
import { parseScopeRequirement } from './gate-support.js'

/** What the gate does on a route. */
export interface RouteDecision {
  /** Whether the gate authenticates the route's requests. */
  readonly gated: boolean
  /** The scopes the route needs, validated (frozen). */
  readonly requirement: ScopeRequirement | undefined
}

/** What a route declares: Fastify's route `config`, or what Express's guards say. */
export interface RouteDeclaration {
  /** `true`: no token needed (Express: the `public` option). */
  public?: unknown
  /** `true`: protected even with `routes: 'declared'` (Express: `protect()`). */
  protect?: unknown
  /** The scopes the route needs (Express: `requireScopes(...)`). */
  scopes?: unknown
  /** The name before `public` / `protect`: refused with the new names. */
  auth?: unknown
}

/**
 * Decides a route once: public routes are never gated; with `routes: 'all'` every other route is;
 * with `'declared'` those that declare `protect` or `scopes`. Throws a TypeError naming `where`
 * for a declaration that contradicts itself (scopes on a public route) or has the wrong type.
 *
 * @example
 * decideRoute({ scopes: ['notes:read'] }, 'declared', 'route GET /notes') // { gated: true, requirement: [...] }
 */
export function decideRoute(
  declared: RouteDeclaration | undefined,
  mode: RoutesMode,
  where: string,
): RouteDecision {
  if (declared === undefined) return mode === 'all' ? GATED : OPEN
  if (declared.auth !== undefined) {
    throw new TypeError(
      `${where}: config.auth is now config.public (public: true for auth: false) and config.protect (protect: true for auth: true)`,
    )
  }
  for (const key of ['public', 'protect'] as const) {
    if (declared[key] !== undefined && typeof declared[key] !== 'boolean') {
      throw new TypeError(`${where}: config.${key} must be a boolean`)
    }
  }
  if (declared.public === true) {
    if (declared.scopes !== undefined) throw new TypeError(`${where}: config.scopes on a public route`)
    if (declared.protect === true) throw new TypeError(`${where}: config.protect on a public route`)
    return OPEN
  }
  const requirement =
    declared.scopes === undefined
      ? undefined
      : parseScopeRequirement(declared.scopes, `${where} config.scopes`)
  const gated = mode === 'all' || declared.protect === true || requirement !== undefined
  if (requirement === undefined) return gated ? GATED : OPEN
  return Object.freeze({ gated, requirement })
}

const GATED: RouteDecision = Object.freeze({ gated: true, requirement: undefined })
const OPEN: RouteDecision = Object.freeze({ gated: false, requirement: undefined })

/**
 * Matches a path against a list of public paths: exact paths (compared as written: case and
 * trailing slash count) and regular expressions. The path is the one the router dispatches on.
 *
 * @example
 * const isPublic = publicPathMatcher(['/health', /^\/docs\//])
 * isPublic('/health') // true
 */
export function publicPathMatcher(list: ReadonlyArray<string | RegExp>): (path: string) => boolean {
  const paths = new Set(list.filter((entry): entry is string => typeof entry === 'string'))
  const patterns = list.filter((entry): entry is RegExp => entry instanceof RegExp)
  if (patterns.length === 0) return (path) => paths.has(path)
  return (path) => {
    if (paths.has(path)) return true
    return patterns.some((pattern) => {
      // A global or sticky pattern keeps state between tests; start each test afresh.
      pattern.lastIndex = 0
      return pattern.test(path)
    })
  }
}
