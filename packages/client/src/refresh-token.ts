import { tokenFingerprint } from '@portcullis/core'
import { parseOptions } from '@portcullis/core/adapter'
import * as oidc from 'openid-client'
import { z } from 'zod'
import {
  type AccessToken,
  coversScopes,
  splitScopes,
  type TokenContext,
  type TokenProvider,
} from './access-token.js'
import { tokenRequestError } from './authorization-server.js'
import { TokenRequestError } from './errors.js'
import {
  accessTokenFrom,
  type GrantOptions,
  grantOptionsShape,
  grantTarget,
  refineGrantOptions,
} from './grant-options.js'

export interface RefreshTokenOptions extends GrantOptions {
  /**
   * The refresh token to start from. Once the store holds a grant seeded from it, the stored
   * (rotated) refresh token is used instead, and this one never again.
   */
  refreshToken?: string
  /** Scopes to ask for on refresh, a subset of the grant's (RFC 6749 §6). Default: the grant's own. */
  scopes?: string[]
}

const schema = z
  .strictObject({
    ...grantOptionsShape,
    refreshToken: z.string().min(1).optional(),
    scopes: z.array(z.string().min(1)).optional(),
  })
  .superRefine((options, ctx) => refineGrantOptions(options, ctx, false))

/**
 * The refresh token grant (RFC 6749 §6, OAuth 2.1 §4.3) on a grant a user gave once (a CLI, a
 * daemon). Each rotated refresh token (OAuth 2.1 §4.3.1) is written to the store before the access
 * token is used, so the next run, or another process, refreshes with the live one. A refresh grant
 * cannot widen its scopes (§6): a step-up fails with `scope_not_grantable`. An `invalid_grant`
 * answer deletes the stored grant and fails with `grantCleared: true`.
 *
 * @example
 * const provider = refreshToken({ issuer, clientId: 'cli', refreshToken: saved, resource: 'https://mcp.example.com/mcp' })
 * const fetch = authFetch(provider, { store: fileTokenStore('~/.config/app/tokens.json') })
 */
export function refreshToken(options: RefreshTokenOptions): TokenProvider {
  const o = parseOptions(schema, options, 'refreshToken')
  const { server, grant, resourceParameter } = grantTarget(o)
  const seed = o.refreshToken === undefined ? undefined : tokenFingerprint(o.refreshToken)

  const refresh = async (current: AccessToken | undefined, context: TokenContext): Promise<AccessToken> => {
    const stored = context.stored
    // The seed is used once: after the store holds a grant started from it, that grant wins.
    const fromStore = stored !== undefined && (seed === undefined || stored.seededFrom === seed)
    const token = fromStore ? stored.refreshToken : o.refreshToken
    if (token === undefined) {
      const why =
        stored?.clearedAt !== undefined
          ? 'the authorization server refused it and it was cleared'
          : 'none was given or stored'
      throw new TokenRequestError(
        'invalid_grant',
        `refreshToken: no refresh token for ${server.issuer} (${why}); sign in again`,
        {
          issuer: server.issuer,
          grantCleared: stored?.clearedAt !== undefined,
        },
      )
    }
    const granted = (fromStore ? stored.scopes : undefined) ?? current?.scopes
    if (
      context.scopes !== undefined &&
      granted !== undefined &&
      !coversScopes({ token: '', tokenType: '', scopes: granted }, context.scopes)
    ) {
      const missing = context.scopes.filter((scope) => !granted.includes(scope))
      throw new TokenRequestError(
        'scope_not_grantable',
        `refreshToken: the resource server asks for ${missing.join(' ')}, which this grant (${granted.join(' ') || 'no scopes'}) does not hold; a refresh cannot widen a grant (RFC 6749 §6): sign in again with the wider scopes`,
        { issuer: server.issuer },
      )
    }
    const scope = o.scopes ?? undefined
    const config = await server.configuration()
    let response: oidc.TokenEndpointResponse
    try {
      response = await oidc.refreshTokenGrant(config, token, {
        ...resourceParameter,
        ...(scope === undefined ? {} : { scope: scope.join(' ') }),
      })
    } catch (error) {
      const typed = await tokenRequestError(error, server.issuer, 'refresh')
      if (typed.kind !== 'invalid_grant') throw typed
      // The grant is gone (revoked, expired, or a rotated token reused): keep a tombstone so
      // neither this process nor the next one tries the dead token or the spent seed again.
      await context.save({
        ...(seed === undefined ? {} : { seededFrom: seed }),
        clearedAt: Math.floor(Date.now() / 1000),
      })
      throw new TokenRequestError(
        'invalid_grant',
        `${typed.message}; the stored grant was cleared: sign in again`,
        {
          issuer: server.issuer,
          status: typed.status,
          error: typed.error,
          errorDescription: typed.errorDescription,
          grantCleared: true,
        },
      )
    }
    const accessToken = accessTokenFrom(response, scope ?? granted ?? [], server.issuer)
    // Saved before anything else can fail: after rotation the old refresh token is dead.
    await context.save({
      ...(seed === undefined ? {} : { seededFrom: seed }),
      refreshToken: response.refresh_token ?? token,
      scopes:
        typeof response.scope === 'string' ? splitScopes(response.scope) : (granted ?? accessToken.scopes),
      accessToken,
    })
    return accessToken
  }

  return {
    grant,
    getToken: (context) => refresh(undefined, context),
    refreshToken: (current, context) => refresh(current, context),
  }
}
