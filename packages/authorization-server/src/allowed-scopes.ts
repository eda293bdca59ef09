import { scopeMapper } from '@portcullis/core'
import type { ResolvedOptions } from './options.js'
import type { UpstreamSignIn } from './upstream-client.js'

/** Decides, from an upstream sign-in, every scope the user may have. */
export type AllowedScopes = (signIn: UpstreamSignIn) => Promise<string[]>

/**
 * The scopes an upstream identity may have: what `upstream.preset`'s roles mapping grants for the
 * upstream access token (verified with the preset), and what `roles` grants for the roles or
 * groups in the ID token and userinfo (core's `scopeMapper`), cut to the scopes of the configured
 * resources. Anything that fails (a token the preset refuses) grants nothing: fail closed.
 */
export function allowedScopes(options: ResolvedOptions): AllowedScopes {
  const known = new Set(options.resources.flatMap((entry) => entry.scopes))
  const roles = options.roles
  // Only roles decide: scopes the upstream put in its own claims are the upstream's, not ours.
  const fromClaims =
    roles === undefined
      ? undefined
      : scopeMapper({ scopeClaims: [], roleClaims: roles.claims ?? ['roles', 'groups'], roles: roles.scopes })
  const preset = options.upstream.preset
  return async (signIn) => {
    const granted = new Set<string>(fromClaims?.(signIn.claims) ?? [])
    if (preset !== undefined) {
      try {
        const info = await preset.options.verifier.verifyAccessToken(signIn.tokens.accessToken)
        for (const scope of info.scopes) granted.add(scope)
      } catch {
        // The upstream access token is not one the preset accepts: its roles grant nothing.
      }
    }
    return [...granted].filter((scope) => known.has(scope))
  }
}
