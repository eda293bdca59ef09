import { isLoopbackHost } from '@portcullis/core/adapter'
import * as oidc from 'openid-client'
import type { ResolvedOptions } from './options.js'
import type { UpstreamTokenSet } from './token-vault.js'

/** The checks a callback is held to, remembered when the user is sent upstream. */
export interface UpstreamChecks {
  state: string
  nonce: string
  codeVerifier: string
}

/** What a finished upstream sign-in gives the broker. */
export interface UpstreamSignIn {
  /** The upstream `sub`: the account id at the broker. */
  subject: string
  /** ID-token claims, then userinfo's over them. */
  claims: Record<string, unknown>
  tokens: UpstreamTokenSet
}

/**
 * The broker's one confidential client at the upstream IdP, on openid-client: discovery,
 * the authorization request (state, nonce, PKCE S256), the callback's checks (state, RFC 9207
 * `iss`, ID-token signature, nonce and audience, PKCE), userinfo, refresh and revocation.
 */
export class UpstreamClient {
  readonly #config: oidc.Configuration
  readonly #options: ResolvedOptions['upstream']
  readonly redirectUri: string

  private constructor(config: oidc.Configuration, options: ResolvedOptions['upstream'], redirectUri: string) {
    this.#config = config
    this.#options = options
    this.redirectUri = redirectUri
  }

  /** Reads the upstream's discovery document (OIDC Core Discovery §4; openid-client checks `issuer`). */
  static async discover(options: ResolvedOptions['upstream'], redirectUri: string): Promise<UpstreamClient> {
    const issuer = new URL(options.issuer)
    // http only on loopback (validated already): openid-client needs to be told explicitly.
    const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)
    const auth =
      options.tokenEndpointAuthMethod === 'client_secret_post'
        ? oidc.ClientSecretPost(options.clientSecret)
        : oidc.ClientSecretBasic(options.clientSecret)
    const metadata = { redirect_uris: [redirectUri], response_types: ['code'] }
    let config: oidc.Configuration
    if (options.oauth !== undefined) {
      // OAuth 2.0 without OIDC: no discovery document, the endpoints are given.
      config = new oidc.Configuration(
        {
          issuer: options.issuer,
          authorization_endpoint: options.oauth.authorizationEndpoint,
          token_endpoint: options.oauth.tokenEndpoint,
          ...(options.oauth.revocationEndpoint === undefined
            ? {}
            : { revocation_endpoint: options.oauth.revocationEndpoint }),
        },
        options.clientId,
        metadata,
        auth,
      )
      if (insecure) oidc.allowInsecureRequests(config)
    } else {
      try {
        config = await oidc.discovery(issuer, options.clientId, metadata, auth, {
          timeout: Math.ceil(options.timeoutMs / 1000),
          ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
        })
      } catch (error) {
        throw new Error(
          `authorization-server: cannot read the upstream IdP's discovery document at ${options.issuer}: ${(error as Error).message}`,
          { cause: error },
        )
      }
    }
    config.timeout = Math.ceil(options.timeoutMs / 1000)
    return new UpstreamClient(config, options, redirectUri)
  }

  /**
   * Whether the upstream answers now: its discovery document read again (openid-client checks its
   * `issuer`), or for an OAuth-only upstream its authorization endpoint answering below 500.
   * Bounded by the upstream timeout. Throws what went wrong; never sends the client secret.
   */
  async probe(): Promise<string> {
    const timeout = Math.ceil(this.#options.timeoutMs / 1000)
    const issuer = new URL(this.#options.issuer)
    const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)
    if (this.#options.oauth === undefined) {
      await oidc.discovery(issuer, this.#options.clientId, undefined, oidc.None(), {
        timeout,
        ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      return `discovery document of ${this.#options.issuer} read`
    }
    const endpoint = this.#options.oauth.authorizationEndpoint
    const response = await fetch(endpoint, {
      redirect: 'manual',
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    })
    await response.body?.cancel()
    if (response.status >= 500) throw new Error(`${endpoint} answered ${response.status}`)
    return `${endpoint} answered ${response.status}`
  }

  get issuer(): string {
    return this.#config.serverMetadata().issuer
  }

  get supportsRevocation(): boolean {
    return this.#config.serverMetadata().revocation_endpoint !== undefined
  }

  /** Fresh state, nonce and PKCE verifier for one sign-in. */
  static newChecks(): UpstreamChecks {
    return {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
    }
  }

  async authorizationUrl(checks: UpstreamChecks, loginHint: string | undefined): Promise<URL> {
    const params: Record<string, string> = {
      ...this.#options.authorizationParams,
      redirect_uri: this.redirectUri,
      scope: this.#options.scopes.join(' '),
      state: checks.state,
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
      code_challenge_method: 'S256',
    }
    if (this.#options.scopes.includes('openid')) params.nonce = checks.nonce
    // OIDC Core §3.1.2.1: a hint the MCP client gave about who signs in, passed on as is.
    if (loginHint !== undefined && loginHint.length <= 200) params.login_hint = loginHint
    return oidc.buildAuthorizationUrl(this.#config, params)
  }

  /** Redeems the callback's code after every check openid-client makes; throws on any failure. */
  async finish(callbackQuery: string, checks: UpstreamChecks): Promise<UpstreamSignIn> {
    const current = new URL(this.redirectUri)
    current.search = callbackQuery
    const openid = this.#options.scopes.includes('openid')
    const response = await oidc.authorizationCodeGrant(
      this.#config,
      current,
      {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        ...(openid ? { expectedNonce: checks.nonce } : {}),
        idTokenExpected: openid,
      },
      this.#options.tokenParams,
    )
    const idClaims = (response.claims() ?? {}) as Record<string, unknown>
    let subject = typeof idClaims.sub === 'string' ? idClaims.sub : undefined
    let claims: Record<string, unknown> = { ...idClaims }
    if (this.#options.userinfo && this.#config.serverMetadata().userinfo_endpoint !== undefined) {
      // OIDC Core §5.3.2: userinfo's `sub` must be the ID token's (openid-client checks it).
      const info = await oidc.fetchUserInfo(
        this.#config,
        response.access_token,
        subject === undefined ? oidc.skipSubjectCheck : subject,
      )
      claims = { ...claims, ...info }
      subject ??= info.sub
    }
    const oauth = this.#options.oauth
    if (oauth !== undefined) {
      // OAuth-only upstream: the user endpoint says who signed in.
      const answer = await oidc.fetchProtectedResource(
        this.#config,
        response.access_token,
        new URL(oauth.userEndpoint),
        'GET',
        undefined,
        new Headers({ accept: 'application/json' }),
      )
      if (!answer.ok) throw new Error(`the user endpoint answered ${answer.status}`)
      const user = (await answer.json()) as Record<string, unknown>
      const id = user[oauth.subjectClaim ?? 'id'] ?? user.sub
      if (typeof id === 'string' || typeof id === 'number') subject = String(id)
      claims = { ...claims, ...user }
    }
    if (subject === undefined || subject === '') throw new Error('the upstream IdP named no subject (sub)')
    return { subject, claims, tokens: tokenSet(response) }
  }

  async refresh(refreshToken: string): Promise<UpstreamTokenSet> {
    const response = await oidc.refreshTokenGrant(this.#config, refreshToken, this.#options.tokenParams)
    const tokens = tokenSet(response)
    // RFC 6749 §6: the IdP may keep the refresh token as it was.
    return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken }
  }

  /** RFC 7009: revokes a token upstream; a no-op when the upstream has no revocation endpoint. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
    if (!this.supportsRevocation) return
    await oidc.tokenRevocation(this.#config, token, { token_type_hint: hint })
  }
}

function tokenSet(
  response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
): UpstreamTokenSet {
  const expiresIn = response.expiresIn()
  return {
    accessToken: response.access_token,
    ...(response.refresh_token === undefined ? {} : { refreshToken: response.refresh_token }),
    ...(expiresIn === undefined ? {} : { expiresAt: Math.floor(Date.now() / 1000) + expiresIn }),
    ...(response.scope === undefined ? {} : { scope: response.scope }),
  }
}
