import { randomBytes } from 'node:crypto'
import { canonicalResource } from '@portcullis/core'
import { TokenRequestError } from './errors.js'
import { grantKey, type StoredGrant, type TokenStore } from './token-store.js'

export interface StoredOAuthClientProviderOptions {
  /** Where the client's registration, tokens and PKCE state are kept. */
  store: TokenStore
  /** The MCP server's URL: the resource the grant is for, part of the store key. */
  serverUrl: string | URL
  /** Where the authorization server sends the browser back. */
  redirectUrl: string | URL
  /** RFC 7591 client metadata for dynamic registration (`client_name`, `redirect_uris`, ...). */
  clientMetadata: ClientMetadata
  /** A Client ID Metadata Document URL, used instead of registration where the server supports it. */
  clientMetadataUrl?: string
  /** Opens the authorization URL (a browser, a printed link); the app then calls `transport.finishAuth`. */
  redirectToAuthorization(authorizationUrl: URL): void | Promise<void>
  /**
   * Names this client in the store key (the client id is known only after registration). Default:
   * `clientMetadataUrl`, else `clientMetadata.client_name`, else the redirect URL.
   */
  clientName?: string
}

type Json = Record<string, any>

/** RFC 7591 client metadata: `redirect_uris` and any other field the SDK sends on registration. */
export type ClientMetadata = { redirect_uris: string[]; client_name?: string; [field: string]: any }

/** An MCP SDK `OAuthClientProvider` (both SDK lines) whose state lives in a token store. */
export interface StoredOAuthClientProvider {
  readonly redirectUrl: string
  readonly clientMetadata: ClientMetadata
  readonly clientMetadataUrl?: string
  /** The store key of this grant. */
  readonly storeKey: string
  /** The `state` of the last authorization request, for the redirect handler to check (RFC 6749 §10.12). */
  readonly lastState: string | undefined
  state(): string
  clientInformation(): Promise<any>
  saveClientInformation(information: Json): Promise<void>
  tokens(): Promise<any>
  saveTokens(tokens: Json): Promise<void>
  redirectToAuthorization(authorizationUrl: URL): Promise<void>
  saveCodeVerifier(codeVerifier: string): Promise<void>
  codeVerifier(): Promise<string>
  saveDiscoveryState(state: Json): Promise<void>
  discoveryState(): Promise<any>
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void>
}

/**
 * The MCP SDK's interactive flow (authorization code + PKCE, registration or CIMD, step-up) with a
 * durable store: pass the result as `authProvider` to either SDK line's
 * `StreamableHTTPClientTransport`. The SDK runs the protocol (discovery, registration,
 * authorization, `resource` on every token request, refresh); this provider keeps what it saves
 * in the store, each write at once, so a CLI signs in once and its next run refreshes, and a
 * rotated refresh token is never lost.
 *
 * @example
 * const authProvider = storedOAuthClientProvider({
 *   store: fileTokenStore('.notes-cli/tokens.json'), serverUrl, redirectUrl: 'http://127.0.0.1:8976/callback',
 *   clientMetadata: { client_name: 'notes-cli', redirect_uris: ['http://127.0.0.1:8976/callback'] },
 *   redirectToAuthorization: (url) => open(url.href),
 * })
 * const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider })
 */
export function storedOAuthClientProvider(
  options: StoredOAuthClientProviderOptions,
): StoredOAuthClientProvider {
  const owner = 'storedOAuthClientProvider'
  if (typeof options?.redirectToAuthorization !== 'function') {
    throw new TypeError(`${owner}: option "redirectToAuthorization" must be a function`)
  }
  if (!Array.isArray(options.clientMetadata?.redirect_uris)) {
    throw new TypeError(`${owner}: option "clientMetadata.redirect_uris" must be an array of URLs`)
  }
  let resource: string
  try {
    resource = canonicalResource(options.serverUrl)
  } catch (error) {
    throw new TypeError(`${owner}: option "serverUrl": ${(error as Error).message}`)
  }
  const redirectUrl = String(options.redirectUrl)
  const clientName =
    options.clientName ?? options.clientMetadataUrl ?? options.clientMetadata.client_name ?? redirectUrl
  // The issuer is whatever the SDK discovers from the server's metadata: not known up front.
  const key = grantKey({ issuer: 'mcp-sdk', clientId: clientName, resource })
  const { store } = options
  let cached: StoredGrant | undefined
  let loaded = false
  let lastState: string | undefined

  const load = async (): Promise<Json> => {
    if (!loaded) {
      cached = await store.get(key)
      loaded = true
    }
    return (cached?.sdk ?? {}) as Json
  }
  // Read-modify-write under the store's lock, written at once: the SDK saves a rotated refresh
  // token and then uses it, so it must be on disk before the call returns.
  const update = (change: (sdk: Json) => void) =>
    store.lock(key, async () => {
      const current = (await store.get(key)) ?? {}
      const sdk: Json = { ...(current.sdk ?? {}) }
      change(sdk)
      cached = { ...current, sdk, updatedAt: Math.floor(Date.now() / 1000) }
      loaded = true
      await store.set(key, cached)
    })
  const field = (name: string) => async () => (await load())[name]
  const save = (name: string) => (value: unknown) =>
    update((sdk) => {
      sdk[name] = value
    })

  return {
    redirectUrl,
    clientMetadata: options.clientMetadata,
    ...(options.clientMetadataUrl === undefined ? {} : { clientMetadataUrl: options.clientMetadataUrl }),
    storeKey: key,
    get lastState() {
      return lastState
    },
    state() {
      lastState = randomBytes(16).toString('base64url')
      return lastState
    },
    clientInformation: field('clientInformation'),
    saveClientInformation: save('clientInformation'),
    tokens: field('tokens'),
    saveTokens: save('tokens'),
    async redirectToAuthorization(url) {
      await options.redirectToAuthorization(url)
    },
    saveCodeVerifier: save('codeVerifier'),
    async codeVerifier() {
      const verifier = (await load()).codeVerifier
      if (typeof verifier !== 'string') {
        throw new TokenRequestError(
          'store',
          `${owner}: no PKCE code verifier stored; start the authorization again`,
        )
      }
      return verifier
    },
    saveDiscoveryState: save('discoveryState'),
    discoveryState: field('discoveryState'),
    invalidateCredentials: (scope) =>
      update((sdk) => {
        const names =
          scope === 'all'
            ? ['clientInformation', 'tokens', 'codeVerifier', 'discoveryState']
            : [
                {
                  client: 'clientInformation',
                  tokens: 'tokens',
                  verifier: 'codeVerifier',
                  discovery: 'discoveryState',
                }[scope],
              ]
        for (const name of names) delete sdk[name]
      }),
  }
}
