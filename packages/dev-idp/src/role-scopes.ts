import { scopeMapper } from '@portcullis/core'
import type { DevIdpUser } from './options.js'

/** What a signed-in user may be granted, decided by roles. */
export interface RoleScopes {
  /** The scopes among `offered` that `user` may obtain, in `offered`'s order. */
  allowed(user: string, offered: readonly string[]): string[]
  /** The user's roles, for messages and pages (`(none)` when there are none). */
  describe(user: string): string
}

/**
 * Roles decide scopes through core's `scopeMapper`, the mapping `@portcullis/idp` presets use: each
 * role grants what `roles` maps it to, and `permissions` grant themselves (Auth0 RBAC). A scope that
 * no role names is not governed by roles and is open to every signed-in user, so a resource with its
 * own scopes works without a role map; every scope a role names is closed to users without it.
 *
 * @example
 * roleScopes({ bob: { roles: ['notes-reader'] } }, { 'notes-reader': ['notes:read'], 'notes-admin': ['notes:admin'] })
 *   .allowed('bob', ['notes:read', 'notes:admin']) // ['notes:read']
 */
export function roleScopes(
  users: Readonly<Record<string, DevIdpUser>>,
  roles: Readonly<Record<string, readonly string[]>>,
): RoleScopes {
  const toScopes = scopeMapper({ scopeClaims: ['permissions'], roleClaims: ['roles'], roles: { ...roles } })
  const governed = new Set(Object.values(roles).flat())
  const userOf = (name: string) => (Object.hasOwn(users, name) ? users[name] : undefined)
  return {
    allowed(user, offered) {
      const entry = userOf(user)
      const granted = new Set(toScopes({ roles: entry?.roles ?? [], permissions: entry?.permissions ?? [] }))
      return offered.filter((scope) => !governed.has(scope) || granted.has(scope))
    },
    describe(user) {
      const names = userOf(user)?.roles ?? []
      return names.length > 0 ? names.join(', ') : '(none)'
    },
  }
}
