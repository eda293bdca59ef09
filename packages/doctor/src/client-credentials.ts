import type { AuthorizationServerMetadata } from '@portcullis/core'
import { Checklist, show } from './check.js'
import { jsonObject, type ProbeLimits, probe } from './http.js'

/** A confidential client for the client credentials grant (RFC 6749 §4.4), to get a token to check. */
export interface ClientCredentials {
  clientId: string
  /** Never printed, never in the report. */
  clientSecret: string
  /** Default: the `token_endpoint` of the first authorization server the resource names. */
  tokenEndpoint?: string
  /**
   * How the client authenticates at the token endpoint. Default: `client_secret_basic` (the
   * RFC 8414 §2 default) unless the metadata lists only `client_secret_post`.
   */
  authMethod?: 'client_secret_basic' | 'client_secret_post'
  /** Scopes asked for. Default: as an MCP client picks them, the 401 challenge's `scope`, else `scopes_supported`. */
  scopes?: string[]
}

const ID = 'token.client_credentials'

/**
 * Asks the token endpoint for a token with the client credentials grant, for `resource` (RFC 8707
 * `resource` parameter, so the token's audience is the MCP server). The client authenticates as
 * the server's metadata allows: `client_secret_basic` (the RFC 8414 §2 default) unless only
 * `client_secret_post` is listed. The secret never appears in a check, even when the endpoint
 * echoes it back.
 */
export async function obtainToken(
  credentials: ClientCredentials,
  resource: string,
  metadata: AuthorizationServerMetadata | undefined,
  limits: ProbeLimits,
): Promise<{ list: Checklist; token?: string }> {
  const list = new Checklist('token')
  const endpoint = credentials.tokenEndpoint ?? stringOf(metadata?.token_endpoint)
  if (endpoint === undefined) {
    list.fail(
      ID,
      'no token endpoint to ask: the authorization server metadata was not read or names none',
      'Give the token endpoint (--token-endpoint), or fix the authorization server checks above.',
    )
    return { list }
  }
  const scrub = (text: string) => text.split(credentials.clientSecret).join('[secret]')
  const methods = metadata?.token_endpoint_auth_methods_supported
  const usePost =
    credentials.authMethod === undefined
      ? Array.isArray(methods) &&
        !methods.includes('client_secret_basic') &&
        methods.includes('client_secret_post')
      : credentials.authMethod === 'client_secret_post'
  const form = new URLSearchParams({ grant_type: 'client_credentials', resource })
  if (credentials.scopes !== undefined && credentials.scopes.length > 0)
    form.set('scope', credentials.scopes.join(' '))
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  }
  if (usePost) {
    form.set('client_id', credentials.clientId)
    form.set('client_secret', credentials.clientSecret)
  } else {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded.
    const pair = `${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`
    headers.authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`
  }
  const how = usePost ? 'client_secret_post' : 'client_secret_basic'
  const result = await probe(endpoint, { method: 'POST', headers, body: form.toString() }, limits)
  if (!result.ok) {
    list.fail(
      ID,
      scrub(result.problem),
      'Make the token endpoint reachable from here (https, or http on loopback).',
    )
    return { list }
  }
  const { response } = result
  const body = jsonObject(response)
  const token = body?.access_token
  if (response.status === 200 && typeof token === 'string' && token !== '') {
    const expires = typeof body?.expires_in === 'number' ? `, expires in ${body.expires_in} s` : ''
    list.pass(ID, `client ${show(credentials.clientId)} got a token from ${endpoint} (${how}${expires})`)
    return { list, token }
  }
  // RFC 6749 §5.2: the error code (and description) say why; a 401 invalid_client is bad credentials.
  const error = typeof body?.error === 'string' ? body.error.slice(0, 100) : undefined
  const description =
    typeof body?.error_description === 'string' ? `: ${body.error_description.slice(0, 200)}` : ''
  list.fail(
    ID,
    scrub(
      `the token endpoint ${endpoint} refused client ${show(credentials.clientId)} (${how}): HTTP ${response.status}${error === undefined ? '' : ` ${error}`}${description}`,
    ),
    error === 'invalid_client'
      ? `Check the client id and secret (PORTCULLIS_DOCTOR_CLIENT_SECRET), that the client may use the client credentials grant, and how it is registered to authenticate (--client-auth ${usePost ? 'basic' : 'post'} tries ${usePost ? 'client_secret_basic' : 'client_secret_post'}).`
      : error === 'invalid_target'
        ? `Let this client ask for resource=${resource} (RFC 8707) at the authorization server.`
        : 'Let this client use the client credentials grant for this resource and these scopes.',
  )
  return { list }
}

const stringOf = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined)

const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
