import { parseOptions } from '@portcullis/core/adapter'
import * as oidc from 'openid-client'
import { z } from 'zod'
import type { AccessToken, TokenContext, TokenProvider } from './access-token.js'
import { tokenRequestError } from './authorization-server.js'
import {
  accessTokenFrom,
  type GrantOptions,
  grantOptionsShape,
  grantTarget,
  refineGrantOptions,
} from './grant-options.js'

export interface ClientCredentialsOptions extends GrantOptions {
  /** Scopes asked for (RFC 6749 §3.3); the token carries the ones granted. */
  scopes?: string[]
}

const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an RFC 6749 §3.3 scope token')

const schema = z
  .strictObject({ ...grantOptionsShape, scopes: z.array(scopeToken).default([]) })
  .superRefine((options, ctx) => refineGrantOptions(options, ctx, true))

/**
 * The client credentials grant (RFC 6749 §4.4, OAuth 2.1 §4.2): a machine identity with a client
 * secret (`client_secret_basic` or `client_secret_post`) or a private key (`private_key_jwt`,
 * RFC 7523). The token endpoint is given or discovered. Renewal is a new grant; a step-up asks
 * for the wider scopes, which this grant can do.
 *
 * @example
 * const provider = clientCredentials({
 *   issuer: 'https://idp.example.com', clientId: 'reporter', clientSecret: process.env.SECRET,
 *   scopes: ['notes:read'], resource: 'https://mcp.example.com/mcp',
 * })
 */
export function clientCredentials(options: ClientCredentialsOptions): TokenProvider {
  const o = parseOptions(schema, options, 'clientCredentials')
  const { server, grant, resourceParameter } = grantTarget(o)

  const request = async (context: TokenContext): Promise<AccessToken> => {
    const scopes = context.scopes ?? o.scopes
    const config = await server.configuration()
    let response: oidc.TokenEndpointResponse
    try {
      response = await oidc.clientCredentialsGrant(config, {
        ...resourceParameter,
        ...(scopes.length === 0 ? {} : { scope: scopes.join(' ') }),
      })
    } catch (error) {
      throw await tokenRequestError(error, server.issuer, 'client credentials grant')
    }
    return accessTokenFrom(response, scopes, server.issuer)
  }

  return {
    grant,
    getToken: (context) => request(context),
    refreshToken: (_current, context) => request(context),
  }
}
