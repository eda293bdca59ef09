import * as oidc from 'openid-client'
import { TokenRequestError } from './errors.js'
import { boundedTokenFetch, type TokenEndpointLimits } from './token-endpoint-fetch.js'

export interface AuthorizationServerOptions extends TokenEndpointLimits {
  /** Issuer identifier: the token endpoint is discovered (RFC 8414, then OpenID Connect Discovery). */
  issuer?: string
  /** The token endpoint, when it is known and discovery is not wanted. */
  tokenEndpoint?: string
  clientId: string
  clientAuth: oidc.ClientAuth
}

/** An authorization server's token endpoint as openid-client configures it, discovered once. */
export interface AuthorizationServer {
  /** The issuer, or the token endpoint when only that was given: names the grant and errors. */
  readonly issuer: string
  configuration(): Promise<oidc.Configuration>
}

/**
 * Resolves the token endpoint: given, or from the issuer's RFC 8414 metadata, falling back to
 * OpenID Connect Discovery (IdPs such as Google and Cognito serve only the latter). openid-client
 * checks the metadata's `issuer` against the one asked (RFC 8414 §3.3). A failed discovery is not
 * cached: the next token request tries again.
 */
export function authorizationServer(options: AuthorizationServerOptions): AuthorizationServer {
  const issuer = options.issuer ?? options.tokenEndpoint!
  const customFetch = boundedTokenFetch(options, issuer)
  // secureUrlProblem (checked by the caller) let http through only on loopback hosts.
  const insecure = new URL(issuer).protocol === 'http:'
  const configure = (config: oidc.Configuration) => {
    config[oidc.customFetch] = customFetch
    if (insecure) oidc.allowInsecureRequests(config)
    return config
  }
  let pending: Promise<oidc.Configuration> | undefined

  const discover = async (): Promise<oidc.Configuration> => {
    if (options.issuer === undefined) {
      return configure(
        new oidc.Configuration(
          { issuer, token_endpoint: options.tokenEndpoint! },
          options.clientId,
          undefined,
          options.clientAuth,
        ),
      )
    }
    const discoveryOptions = (algorithm: 'oauth2' | 'oidc'): oidc.DiscoveryRequestOptions => ({
      algorithm,
      [oidc.customFetch]: customFetch,
      timeout: Math.ceil(options.timeoutMs / 1000),
      ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
    })
    const url = new URL(options.issuer)
    let first: unknown
    for (const algorithm of ['oauth2', 'oidc'] as const) {
      try {
        return configure(
          await oidc.discovery(
            url,
            options.clientId,
            undefined,
            options.clientAuth,
            discoveryOptions(algorithm),
          ),
        )
      } catch (error) {
        first ??= error
        // Down or slow is not a reason to try the other document: it would double the wait.
        const typed = await tokenRequestError(error, issuer, 'discovery')
        if (typed.kind === 'timeout' || typed.kind === 'network') throw typed
      }
    }
    const typed = await tokenRequestError(first, issuer, 'discovery')
    throw new TokenRequestError(
      typed.kind,
      `${issuer}: no usable authorization server metadata (RFC 8414 or OpenID Connect Discovery): ${typed.message}`,
      { issuer, status: typed.status, cause: first },
    )
  }

  return {
    issuer,
    configuration() {
      pending ??= discover().catch((error) => {
        pending = undefined
        throw error
      })
      return pending
    },
  }
}

/**
 * Translates what openid-client (and the bounded fetch under it) throws into a TokenRequestError:
 * the typed failure of the bounded fetch, an RFC 6749 §5.2 error answer, or an answer that is not
 * a token response.
 */
export async function tokenRequestError(
  error: unknown,
  issuer: string,
  action: string,
): Promise<TokenRequestError> {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof TokenRequestError) return e
  }
  if (error instanceof oidc.ResponseBodyError) {
    return new TokenRequestError(
      error.error === 'invalid_grant' ? 'invalid_grant' : 'oauth_error',
      `${issuer} refused the ${action}: ${error.error}${error.error_description ? ` (${error.error_description.slice(0, 200)})` : ''}`,
      { issuer, status: error.status, error: error.error, errorDescription: error.error_description },
    )
  }
  if (error instanceof oidc.WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a 401 to a failed client authentication may carry a challenge; the error
    // code is in the challenge or in the JSON body.
    const params = error.cause[0]?.parameters
    const body = (await error.response
      .clone()
      .json()
      .catch(() => undefined)) as { error?: unknown; error_description?: unknown } | undefined
    const code = params?.error ?? (typeof body?.error === 'string' ? body.error : undefined)
    const description =
      params?.error_description ??
      (typeof body?.error_description === 'string' ? body.error_description : undefined)
    return new TokenRequestError(
      code === undefined ? 'http_status' : 'oauth_error',
      `${issuer} refused the ${action} with HTTP ${error.status}${code === undefined ? '' : `: ${code}`}`,
      { issuer, status: error.status, error: code, errorDescription: description },
    )
  }
  const code = (error as { code?: unknown })?.code
  const cause = (error as { cause?: unknown })?.cause
  const status = cause instanceof Response ? cause.status : undefined
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' && status !== undefined) {
    return new TokenRequestError('http_status', `${issuer} answered the ${action} with HTTP ${status}`, {
      issuer,
      status,
      cause: error,
    })
  }
  if (code === 'OAUTH_TIMEOUT') {
    return new TokenRequestError('timeout', `${issuer} did not answer the ${action} in time`, {
      issuer,
      cause: error,
    })
  }
  const message = error instanceof Error ? error.message : String(error)
  return new TokenRequestError(
    'malformed',
    `${issuer} gave an unusable answer to the ${action}: ${message}`,
    {
      issuer,
      status,
      cause: error,
    },
  )
}
