import { z } from 'zod'
import { parseOptions } from '../support/options.js'

/**
 * The scopes an operation needs. An array means all of them (the common case); `{ anyOf }` is
 * satisfied by any one. An empty list of either kind requires nothing.
 */
export type ScopeRequirement = readonly string[] | { allOf: readonly string[] } | { anyOf: readonly string[] }

/** Scope implications: `{ 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] }`. */
export type ScopeImplications = Record<string, readonly string[]>

export interface ScopePolicy {
  /** The granted scopes plus every scope they imply, transitively. A new set on each call. */
  expand(granted: Iterable<string>): Set<string>
  /** Whether the granted scopes (with implication) meet the requirement. */
  satisfies(requirement: ScopeRequirement, granted: Iterable<string>): boolean
  /**
   * The smallest set of scopes that, added to `granted`, would meet the requirement, in the order
   * the requirement lists them; `[]` when it is met. What a 403 `insufficient_scope` challenge asks for.
   */
  missing(requirement: ScopeRequirement, granted: Iterable<string>): string[]
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Whether a string is a valid RFC 6749 §3.3 scope-token (printable ASCII except space, `"` and `\`).
 *
 * @example
 * isScopeToken('notes:read') // true
 */
export const isScopeToken = (value: unknown): value is string =>
  typeof value === 'string' && SCOPE_TOKEN.test(value)

/** zod schema of one scope-token, with a message that names the bad value. */
export const scopeTokenSchema = z.string().refine((value) => SCOPE_TOKEN.test(value), {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not a valid scope (RFC 6749 §3.3: printable ASCII, no space, '"' or '\\')`,
})

const scopeListSchema = z.array(scopeTokenSchema).readonly()

/** zod schema of a `ScopeRequirement`, for adapters to validate route and tool options at register time. */
export const scopeRequirementSchema = z.union([
  scopeListSchema,
  z.strictObject({ allOf: scopeListSchema }),
  z.strictObject({ anyOf: z.array(scopeTokenSchema).min(1, 'anyOf needs at least one scope').readonly() }),
])

// Checked entry by entry on the input itself: z.record's copy would silently drop a "__proto__" key.
const impliesSchema = z.unknown().superRefine((input, ctx) => {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object mapping a scope to the scopes it implies' })
    return
  }
  for (const [key, value] of Object.entries(input)) {
    if (!SCOPE_TOKEN.test(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${JSON.stringify(key)} is not a valid scope (RFC 6749 §3.3)`,
      })
    }
    const result = scopeListSchema.safeParse(value)
    for (const issue of result.error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', path: [key, ...issue.path], message: issue.message })
    }
  }
})

/** `offline_access` asks for a refresh token: never advertised by a resource server (MCP 2026-07-28, SEP-2207). */
export const OFFLINE_ACCESS = 'offline_access'

/** Whether every scope `required` names is in `granted` as such (no implication): a loop, no closure per check. */
function grantedAsSuch(required: readonly string[], granted: readonly string[]): boolean {
  for (let i = 0; i < required.length; i++) if (!granted.includes(required[i]!)) return false
  return true
}

/**
 * A scope policy with implication (a broader scope grants narrower ones). Implication is
 * transitive and cycles are harmless; closures are computed once, here. MCP 2026-07-28 §Step-Up
 * Authorization Flow: servers MUST account for scope hierarchies.
 *
 * @example
 * const policy = scopePolicy({ 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] })
 * policy.satisfies(['notes:read'], ['notes:admin']) // true
 * policy.missing(['notes:read', 'notes:write'], []) // ['notes:write']
 */
export function scopePolicy(implies: ScopeImplications = {}): ScopePolicy {
  parseOptions(impliesSchema, implies, 'scopePolicy')
  // The input, not zod's copy: a plain-object copy would lose a "__proto__" key.
  const closures = closuresOf(implies)
  const closureOf = (scope: string): ReadonlySet<string> | undefined => closures.get(scope)
  const implied = (by: string, scope: string) => by === scope || closureOf(by)?.has(scope) === true

  const expand = (granted: Iterable<string>): Set<string> => {
    const out = new Set<string>()
    for (const scope of granted) {
      if (typeof scope !== 'string') continue
      const closure = closureOf(scope)
      if (closure === undefined) out.add(scope)
      else for (const s of closure) out.add(s)
    }
    return out
  }

  return {
    expand,
    satisfies(requirement, granted) {
      // Most checks are met by a scope granted as such: no closure to build.
      if (Array.isArray(granted) && Array.isArray(requirement) && grantedAsSuch(requirement, granted))
        return true
      const { kind, scopes } = requirementParts(requirement)
      if (scopes.length === 0) return true
      const have = expand(granted)
      return kind === 'all' ? scopes.every((s) => have.has(s)) : scopes.some((s) => have.has(s))
    },
    missing(requirement, granted) {
      if (Array.isArray(granted) && Array.isArray(requirement) && grantedAsSuch(requirement, granted))
        return []
      const { kind, scopes } = requirementParts(requirement)
      if (scopes.length === 0) return []
      const have = expand(granted)
      if (kind === 'any') return scopes.some((s) => have.has(s)) ? [] : [scopes[0]!]
      const unmet = [...new Set(scopes.filter((s) => !have.has(s)))]
      // Drop a scope another unmet one implies: asking for both would be redundant. Of scopes that
      // imply each other (a cycle), the first listed stays.
      return unmet.filter(
        (scope, i) =>
          !unmet.some((other, j) => j !== i && implied(other, scope) && (!implied(scope, other) || j < i)),
      )
    },
  }
}

/** A requirement as its kind and its scopes: the one reading of the three forms (array, `allOf`, `anyOf`). */
export function requirementParts(requirement: ScopeRequirement): {
  kind: 'all' | 'any'
  scopes: readonly string[]
} {
  if (Array.isArray(requirement)) return { kind: 'all', scopes: requirement }
  if (requirement !== null && typeof requirement === 'object') {
    if ('allOf' in requirement && Array.isArray(requirement.allOf))
      return { kind: 'all', scopes: requirement.allOf }
    if ('anyOf' in requirement && Array.isArray(requirement.anyOf))
      return { kind: 'any', scopes: requirement.anyOf }
  }
  throw new TypeError('A scope requirement is an array of scopes, { allOf: [...] } or { anyOf: [...] }')
}

/** Each scope that implies something, mapped to itself plus everything it reaches. */
function closuresOf(graph: Record<string, readonly string[]>): Map<string, ReadonlySet<string>> {
  const edges = new Map<string, readonly string[]>(Object.entries(graph))
  const closures = new Map<string, ReadonlySet<string>>()
  for (const start of edges.keys()) {
    const seen = new Set<string>([start])
    const stack = [start]
    while (stack.length > 0) {
      for (const next of edges.get(stack.pop()!) ?? []) {
        if (!seen.has(next)) {
          seen.add(next)
          stack.push(next)
        }
      }
    }
    closures.set(start, seen)
  }
  return closures
}

/**
 * The scopes a token grants, from its claims: `scope` (space-separated string, RFC 9068 §2.2.3,
 * RFC 8693 §4.2; an array is tolerated) and `scp` (a string as Entra sends it, or an array as
 * Okta does); both are read and merged. With `claimName`, only that claim is read (string or
 * array). Non-string values are ignored, duplicates dropped, order of first appearance kept.
 *
 * @example
 * scopesFromClaims({ scope: 'notes:read notes:write' }) // ['notes:read', 'notes:write']
 * scopesFromClaims({ scp: ['a', 'b'] }) // ['a', 'b']
 * scopesFromClaims({ roles: ['Notes.Admin'] }, 'roles') // ['Notes.Admin']
 */
export function scopesFromClaims(claims: Record<string, unknown>, claimName?: string): string[] {
  const out = new Set<string>()
  const names = claimName === undefined ? ['scope', 'scp'] : [claimName]
  for (const name of names) {
    if (!Object.hasOwn(claims, name)) continue
    const value = claims[name]
    const parts = typeof value === 'string' ? [value] : Array.isArray(value) ? value : []
    for (const part of parts) {
      if (typeof part !== 'string') continue
      // RFC 6749 §3.3: scopes are delimited by a space.
      for (const scope of part.split(' ')) if (scope !== '') out.add(scope)
    }
  }
  return [...out]
}
