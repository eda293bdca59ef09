import { z } from 'zod'
import { scopeTokenSchema } from '../oauth/scopes.js'
import { parseOptions } from '../support/options.js'

/**
 * Where a claim is: a top-level claim name (`'scope'`, `'cognito:groups'`), a dotted path
 * (`'realm_access.roles'`), or the path's segments (`['resource_access', 'notes.api', 'roles']`),
 * needed when a name itself contains a dot (URL-namespaced claims such as Auth0's).
 */
export type ClaimPath = string | readonly string[]

/** Turns a token's claims into the scopes it grants. */
export type ScopeMapper = (claims: Record<string, unknown>) => string[]

export interface ScopeMapperOptions {
  /**
   * Claims whose values are scopes as they are: a space-separated string (RFC 6749 §3.3) or an
   * array of strings. Default `['scope', 'scp']`.
   */
  scopeClaims?: readonly ClaimPath[]
  /**
   * Claims whose values are roles (or groups, permissions): an array of names, or one name as a
   * string (names may contain spaces). Each grants the scopes `roles` maps it to.
   */
  roleClaims?: readonly ClaimPath[]
  /** Role → the scopes it grants, e.g. `{ 'mcp-admin': ['notes:admin'] }`. A role not listed grants nothing. */
  roles?: Record<string, readonly string[]>
}

const segmentSchema = z.string().min(1, 'a claim path segment must not be empty')

/** zod schema of a `ClaimPath`; a string naming a URL must be given as segments. */
export const claimPathSchema = z.union([
  z
    .string()
    .min(1, 'a claim path must not be empty')
    .refine((value) => !value.includes('://'), {
      error: (issue) =>
        `${JSON.stringify(issue.input)} contains "://" and would be split at its dots; give it as segments: [${JSON.stringify(issue.input)}]`,
    })
    .refine((value) => value.split('.').every((segment) => segment !== ''), {
      error: 'a dotted claim path has an empty segment',
    }),
  z.array(segmentSchema).min(1, 'a claim path needs at least one segment').readonly(),
])

// Checked on the input itself: z.record's copy would silently drop a "__proto__" role.
const rolesSchema = z.unknown().superRefine((input, ctx) => {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object mapping a role to the scopes it grants' })
    return
  }
  for (const [role, scopes] of Object.entries(input)) {
    if (role === '') ctx.addIssue({ code: 'custom', path: [role], message: 'a role name must not be empty' })
    const result = z.array(scopeTokenSchema).readonly().safeParse(scopes)
    for (const issue of result.error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', path: [role, ...issue.path], message: issue.message })
    }
  }
})

const scopeMapperSchema = z.strictObject({
  scopeClaims: z.array(claimPathSchema).readonly().optional(),
  roleClaims: z.array(claimPathSchema).readonly().optional(),
  roles: rolesSchema.optional(),
})

/**
 * The segments of a claim path.
 *
 * @example
 * claimPathSegments('realm_access.roles') // ['realm_access', 'roles']
 */
export function claimPathSegments(path: ClaimPath): readonly string[] {
  return typeof path === 'string' ? path.split('.') : path
}

/**
 * The value at a claim path, or `undefined`. Only own members of plain JSON objects are followed,
 * so `__proto__` or `constructor` in a path finds nothing.
 *
 * @example
 * readClaim({ realm_access: { roles: ['admin'] } }, 'realm_access.roles') // ['admin']
 */
export function readClaim(claims: Record<string, unknown>, path: ClaimPath): unknown {
  let value: unknown = claims
  for (const segment of claimPathSegments(path)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
    if (!Object.hasOwn(value, segment)) return undefined
    value = (value as Record<string, unknown>)[segment]
  }
  return value
}

/** The scopes a scope claim carries: a space-separated string's words, an array's string items split likewise. */
function scopeWords(value: unknown): string[] {
  const parts = typeof value === 'string' ? [value] : Array.isArray(value) ? value : []
  const out: string[] = []
  for (const part of parts) {
    if (typeof part !== 'string') continue
    // RFC 6749 §3.3: scopes are delimited by a space.
    for (const word of part.split(' ')) if (word !== '') out.push(word)
  }
  return out
}

/** The roles a role claim carries: an array's string items, or a single string, each taken whole. */
function roleNames(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (!Array.isArray(value)) return []
  return value.filter((item): item is string => typeof item === 'string')
}

/**
 * A function that reads the scopes a token grants: the values of the scope claims as they are,
 * plus the scopes each role in the role claims is mapped to. For IdPs that grant access through
 * roles or groups (Keycloak realm and client roles, Entra app roles, Cognito groups, Auth0 RBAC
 * permissions), so routes and tools keep asking for scopes and scope implication still applies.
 * Duplicates are dropped, order of first appearance kept. Options are validated here, naming the
 * bad one.
 *
 * @example
 * const toScopes = scopeMapper({
 *   scopeClaims: ['scope'],
 *   roleClaims: ['realm_access.roles'],
 *   roles: { 'mcp-admin': ['notes:admin'] },
 * })
 * toScopes({ scope: 'notes:read', realm_access: { roles: ['mcp-admin'] } }) // ['notes:read', 'notes:admin']
 */
export function scopeMapper(options: ScopeMapperOptions = {}): ScopeMapper {
  const o = parseOptions(scopeMapperSchema, options, 'scopeMapper')
  const scopeClaims = (o.scopeClaims ?? ['scope', 'scp']).map(claimPathSegments)
  const roleClaims = (o.roleClaims ?? []).map(claimPathSegments)
  // A Map, not the options object: a role named "constructor" or "__proto__" must find only itself.
  const roles = new Map<string, readonly string[]>(Object.entries(options.roles ?? {}))
  return (claims) => {
    const out = new Set<string>()
    for (const path of scopeClaims) for (const scope of scopeWords(readClaim(claims, path))) out.add(scope)
    if (roles.size > 0) {
      for (const path of roleClaims) {
        for (const role of roleNames(readClaim(claims, path))) {
          for (const scope of roles.get(role) ?? []) out.add(scope)
        }
      }
    }
    return [...out]
  }
}
