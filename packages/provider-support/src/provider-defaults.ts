// oidc-provider configuration that the dev IdP and the broker share. Typed structurally: the
// published declarations import nothing from oidc-provider (see interaction-route.ts).
import { z } from 'zod'

/**
 * Endpoint paths below the issuer. `/authorize`, `/token` and `/register` are also where MCP
 * 2025-03-26 §2.3.3 clients without metadata fall back to.
 */
export const MCP_FALLBACK_ROUTES = {
  authorization: '/authorize',
  token: '/token',
  jwks: '/jwks',
  userinfo: '/userinfo',
  introspection: '/introspect',
  revocation: '/revoke',
  registration: '/register',
  end_session: '/logout',
  pushed_authorization_request: '/par',
} as const

/** A lifetime option in seconds: a positive integer, at most a year. */
export const lifetimeSeconds = z
  .number()
  .int()
  .positive()
  .max(366 * 24 * 3600)

export interface TokenLifetimes {
  /** Access tokens (and client-credentials tokens) of a resource without a lifetime of its own. */
  accessTokenTtl: number
  refreshTokenTtl: number
  /** How long a grant (the user's consent to a client) lasts. */
  grantTtl: number
}

/** The token oidc-provider asks a lifetime for: an access token knows its resource server. */
interface IssuedToken {
  resourceServer?: { accessTokenTTL?: number | undefined } | undefined
}

/** The request context while a refresh token is rotated. */
interface RotationContext {
  oidc?: { entities?: { RotatedRefreshToken?: { remainingTTL: number } | undefined } } | undefined
}

/** oidc-provider's `ttl`, in seconds. */
// A type literal, not an interface: oidc-provider's `ttl` has an index signature.
export type ProviderLifetimes = {
  AccessToken(ctx: unknown, token: IssuedToken): number
  ClientCredentials(ctx: unknown, token: IssuedToken): number
  AuthorizationCode: number
  IdToken: number
  Interaction: number
  Session: number
  RefreshToken(ctx: RotationContext | undefined): number
  Grant: number
}

/** oidc-provider's `ttl`: each resource's own access-token lifetime first, rotation never extends a refresh token. */
export function tokenLifetimes(lifetimes: TokenLifetimes): ProviderLifetimes {
  return {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.accessTokenTtl,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 86_400,
    // A rotated refresh token keeps its predecessor's expiry: rotation must not extend a lifetime.
    RefreshToken: (ctx) =>
      ctx?.oidc?.entities?.RotatedRefreshToken?.remainingTTL ?? lifetimes.refreshTokenTtl,
    Grant: lifetimes.grantTtl,
  }
}

/**
 * oidc-provider's `renderError` as an HTML page of the host's: `render` gets the error's text
 * fields (`error`, `error_description`, …), after `describe` when given.
 */
export function htmlErrorRenderer(
  render: (title: string, lines: Record<string, string>) => string,
  describe: (out: Record<string, unknown>) => Record<string, unknown> = (out) => out,
): (ctx: { type: string; body: unknown }, out: object) => Promise<void> {
  return async (ctx, out) => {
    ctx.type = 'html'
    const lines = Object.entries(describe({ ...out })).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    )
    ctx.body = render('Authorization error', Object.fromEntries(lines))
  }
}

/**
 * oidc-provider's `allowedPolicy` for revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1):
 * a client acts only on tokens issued to it.
 */
export async function ownTokensOnly(
  _ctx: unknown,
  client: { clientId: string },
  token: { clientId?: string | undefined },
): Promise<boolean> {
  return token.clientId === client.clientId
}
