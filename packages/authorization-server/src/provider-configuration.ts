import { createHmac } from 'node:crypto'
import {
  htmlErrorRenderer,
  MCP_FALLBACK_ROUTES,
  ownTokensOnly,
  tokenLifetimes,
} from '@portcullis/provider-support'
import type { AdapterFactory, ClientMetadata, Configuration, errors as ProviderErrors } from 'oidc-provider'
import type { BrokerSecrets } from './key-store.js'
import { metadataDocumentFetch } from './metadata-document-fetch.js'
import type { ResolvedOptions } from './options.js'
import { errorPage } from './pages.js'
import type { ProviderAdapter, ProviderAdapterFactory } from './provider-types.js'

/** Endpoint paths below the issuer. */
export const ROUTES = MCP_FALLBACK_ROUTES

/** Where the broker's own records live in the state adapter. */
export const MODELS = {
  /** Account id → the claims and allowed scopes of the last upstream sign-in. */
  account: 'BrokerAccount',
  /** `<account> <client>` → grant id: consent given once per user and client. */
  consent: 'BrokerConsent',
  /** Upstream `state` → the sign-in in flight (checks and the interaction it belongs to). */
  upstreamTransaction: 'BrokerUpstreamTransaction',
  /** Interaction uid → the finished upstream sign-in waiting to be handed to oidc-provider. */
  upstreamResult: 'BrokerUpstreamResult',
  /** Account id → the vaulted upstream tokens. */
  upstreamTokens: 'BrokerUpstreamTokens',
  /** A record the readiness check writes, reads and deletes. */
  health: 'BrokerHealth',
} as const

/** The record kept per account after an upstream sign-in. */
export interface AccountRecord {
  claims: Record<string, unknown>
  /** Every scope this user may have (before intersection with what a client asks). */
  allowedScopes: string[]
}

export const consentKey = (accountId: string, clientId: string) => JSON.stringify([accountId, clientId])

export interface ConfigurationInputs {
  options: ResolvedOptions
  secrets: BrokerSecrets
  adapter: ProviderAdapterFactory
  errors: typeof ProviderErrors
}

/**
 * The oidc-provider configuration of an MCP-facing OAuth 2.1 authorization server: authorization
 * code with PKCE S256 only, RFC 8707 resource indicators with `at+jwt` access tokens whose `aud`
 * is the MCP server, RFC 9207 `iss`, dynamic registration and client ID metadata documents,
 * refresh tokens rotated for public clients, client credentials, introspection and revocation.
 * Sign-in and consent are the broker's interactions (upstream IdP, consent page).
 */
export function providerConfiguration(inputs: ConfigurationInputs): Configuration {
  const { options, secrets, adapter, errors } = inputs
  const resources = new Map(options.resources.map((entry) => [entry.resource, entry]))
  const machineScopes = new Map(options.machineClients.map((client) => [client.clientId, client.scopes]))
  const accounts: ProviderAdapter = adapter(MODELS.account)
  const consents: ProviderAdapter = adapter(MODELS.consent)
  const cimd = options.clientIdMetadataDocuments
  const registration = options.registration

  const machineClients: ClientMetadata[] = options.machineClients.map((client) => ({
    client_id: client.clientId,
    client_secret: client.clientSecret,
    ...(client.name === undefined ? {} : { client_name: client.name }),
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }))

  return {
    // The structural adapter type is oidc-provider's own (provider-types.ts); its declarations differ
    // only in naming the payload type.
    adapter: adapter as unknown as AdapterFactory,
    clients: machineClients,
    jwks: { keys: secrets.signingKeys.map((key) => key.jwk) as NonNullable<Configuration['jwks']>['keys'] },
    routes: ROUTES,
    // The broker holds ES256 keys only (oidc-provider's default for ID tokens is RS256).
    clientDefaults: {
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    // OAuth 2.1 §4.1: the authorization code flow only.
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'] },
    // OAuth 2.1 §7.5.2 and MCP authorization: PKCE for every client; oidc-provider 9 knows S256 only.
    pkce: { required: () => true },
    cookies: { keys: options.cookieKeys ?? secrets.cookieKeys },
    // CORS for browser clients (MCP Inspector): only from an origin of one of the client's redirect URIs.
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => URL.canParse(uri) && new URL(uri).origin === origin),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const record = (await accounts.find(sub)) as AccountRecord | undefined
      if (record === undefined) return undefined
      return { accountId: sub, claims: () => ({ sub }) }
    },
    // Consent is per (user, client), not per browser session (MCP authorization, "confused deputy").
    async loadExistingGrant(ctx) {
      const fromConsent = ctx.oidc.result?.consent?.grantId
      const accountId = ctx.oidc.session?.accountId
      const clientId = ctx.oidc.client?.clientId
      let grantId = fromConsent
      if (grantId === undefined && accountId !== undefined && clientId !== undefined) {
        const record = (await consents.find(consentKey(accountId, clientId))) as
          | { grantId?: string }
          | undefined
        grantId = record?.grantId
      }
      if (grantId === undefined) return undefined
      const grant = await ctx.oidc.provider.Grant.find(grantId)
      // A grant of another user or client (or gone) is no consent at all.
      if (grant === undefined || grant.accountId !== accountId || grant.clientId !== clientId)
        return undefined
      return grant
    },
    // MCP clients rarely ask for offline_access: a client registered for the refresh_token grant gets one.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // OAuth 2.1 §4.3.1: refresh tokens of public clients are rotated on every use.
    rotateRefreshToken: (ctx) => {
      const client = ctx.oidc.entities.Client
      return (
        client?.clientAuthMethod === 'none' ||
        (ctx.oidc.entities.RefreshToken?.ttlPercentagePassed() ?? 0) >= 70
      )
    },
    expiresWithSession: async () => false,
    features: {
      devInteractions: { enabled: false },
      // RFC 7591; MCP clients register themselves when they have no metadata document.
      registration: {
        enabled: registration.mode !== 'off',
        initialAccessToken:
          registration.mode === 'initial-access-token' ? (registration.initialAccessToken as string) : false,
      },
      clientIdMetadataDocument: {
        enabled: cimd.enabled,
        ack: 'draft-02',
        cacheDuration: { min: 30, max: 3600 },
      },
      clientCredentials: { enabled: true },
      // RFC 9449. Off by default: bound tokens need a resource server that checks proofs.
      dPoP: {
        enabled: options.dpop.enabled,
        // Derived from the keys file, so a nonce from one instance is accepted by the others.
        nonceSecret: createHmac('sha256', secrets.cookieKeys[0]!).update('dpop-nonce').digest(),
        requireNonce: () => options.dpop.requireNonce,
      },
      introspection: { enabled: true, allowedPolicy: ownTokensOnly },
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // One MCP server: a request without `resource` means it (MCP clients MUST send it; older ones do not).
        defaultResource: () => (resources.size === 1 ? [...resources.keys()][0]! : undefined!),
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, indicator) {
          const entry = resources.get(indicator)
          // RFC 8707 §2: an unknown resource is invalid_target.
          if (entry === undefined)
            throw new errors.InvalidTarget(`this server issues no tokens for ${indicator}`)
          // A machine client gets at most the scopes it was configured with.
          const clientId = ctx.oidc.client?.clientId
          const machine = clientId === undefined ? undefined : machineScopes.get(clientId)
          const scopes =
            machine === undefined ? entry.scopes : entry.scopes.filter((s) => machine.includes(s))
          return {
            scope: scopes.join(' '),
            audience: entry.resource,
            accessTokenTTL: entry.accessTokenTtl ?? options.accessTokenTtl,
            // RFC 9068: JWT access tokens, JOSE typ at+jwt, verified by the MCP server without a call.
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }
        },
      },
    },
    fetch: metadataDocumentFetch(cimd),
    fetchResponseBodyLimits: { 'client_id metadata document': cimd.maxBytes },
    ttl: tokenLifetimes({
      accessTokenTtl: options.accessTokenTtl,
      refreshTokenTtl: options.refreshTokenTtl,
      grantTtl: options.refreshTokenTtl,
    }),
    renderError: htmlErrorRenderer(errorPage),
  }
}
