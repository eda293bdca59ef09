import { randomBytes } from 'node:crypto'
import { htmlErrorRenderer, ownTokensOnly, tokenLifetimes } from '@portcullis/provider-support'
import type {
  AccessToken,
  ClientCredentials,
  ClientMetadata,
  Configuration,
  KoaContextWithOIDC,
  errors as ProviderErrors,
} from 'oidc-provider'
import { OIDC_SCOPES } from './authorization-defaults.js'
import { isAllowedOrigin } from './cors.js'
import { describedError } from './error-descriptions.js'
import type { IdpShapeProfile, TokenFacts } from './idp-shapes.js'
import type { DevIdpSecrets } from './key-file.js'
import type { ResolvedOptions } from './options.js'
import { outboundFetch } from './outbound-fetch.js'
import { messagePage } from './pages.js'
import type { ResourceRegistry } from './resource-registry.js'
import type { StaticClients } from './static-clients.js'

/** Names under which client secrets are kept in the key file. */
export const SECRET_NAMES = ['machine', 'resourceServer'] as const

/** The static clients' ids and secrets from options, else the key file. */
export function staticClients(options: ResolvedOptions, secrets: DevIdpSecrets): StaticClients {
  const { machine, resourceServer, public: publicClient } = options.clients
  return {
    machine: {
      client_id: machine?.clientId ?? 'dev-machine',
      client_secret: machine?.clientSecret ?? secrets.clientSecrets.machine!,
    },
    resourceServer: {
      client_id: resourceServer?.clientId ?? 'dev-resource-server',
      client_secret: resourceServer?.clientSecret ?? secrets.clientSecrets.resourceServer!,
    },
    public: {
      client_id: publicClient?.clientId ?? 'dev-public',
      redirect_uris: publicClient?.redirectUris ?? [
        'http://127.0.0.1/callback',
        'http://localhost/callback',
        'http://localhost/oauth/callback',
      ],
    },
  }
}

/** Everything the provider configuration is built from. */
export interface ConfigurationInputs {
  options: ResolvedOptions
  profile: IdpShapeProfile
  issuer: string
  mountPath: string
  keys: DevIdpSecrets['keys']
  clients: StaticClients
  resources: ResourceRegistry
  errors: typeof ProviderErrors
}

/**
 * The oidc-provider configuration of an OAuth 2.1 authorization server as MCP clients expect it:
 * PKCE S256 for every client, RFC 8707 resource indicators with per-resource JWT or opaque tokens,
 * open dynamic registration and Client ID Metadata Documents (unless `registration: false`),
 * refresh tokens for clients allowed the grant, client credentials, introspection and revocation,
 * CORS for loopback browser clients, and the user's role claims in the ID token and userinfo.
 */
export function providerConfiguration(inputs: ConfigurationInputs): Configuration {
  const { options, profile, clients, resources, errors } = inputs
  const facts = (ctx: KoaContextWithOIDC | undefined, token: AccessToken | ClientCredentials): TokenFacts => {
    const accountId = token.kind === 'AccessToken' ? token.accountId : undefined
    // Resource-bound access tokens carry only resource scopes; OIDC scopes live on the grant.
    const oidcScope = ctx?.oidc?.entities?.Grant?.getOIDCScope() ?? ''
    const scopes = new Set([...(token.scope ?? '').split(' '), ...oidcScope.split(' ')].filter(Boolean))
    return {
      issuer: inputs.issuer,
      clientId: token.clientId ?? '',
      accountId,
      user: accountId === undefined ? undefined : options.users[accountId],
      scopes: [...scopes],
    }
  }
  const isResourceServer = (clientId: string) => clientId === clients.resourceServer.client_id

  const staticClientMetadata: ClientMetadata[] = [
    {
      ...clients.machine,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      ...clients.resourceServer,
      grant_types: [],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      ...clients.public,
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    ...(options.extraClients as ClientMetadata[]),
  ]

  return {
    clients: staticClientMetadata,
    jwks: { keys: inputs.keys as NonNullable<Configuration['jwks']>['keys'] },
    routes: profile.routes,
    // OAuth 2.1 §4.1: the authorization code flow only.
    responseTypes: ['code'],
    scopes: [...OIDC_SCOPES],
    claims: {
      // The role claims the shape puts in access tokens, for a relying party (a broker) to map to scopes.
      openid: ['sub', ...profile.identityRoleClaimNames],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // OAuth 2.1 §7.5.2, MCP authorization: PKCE for every client, public or confidential.
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clientBasedCORS: (_ctx, origin) => isAllowedOrigin(origin, options.corsOrigins),
    interactions: { url: (_ctx, interaction) => `${inputs.mountPath}/interaction/${interaction.uid}` },
    // ID tokens carry the claims their scopes release, not only `sub`: a broker reads roles there.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      const user = Object.hasOwn(options.users, sub) ? options.users[sub] : undefined
      return {
        accountId: sub,
        claims: () => ({
          sub,
          preferred_username: sub,
          name: sub,
          ...(user?.claims ?? {}),
          ...profile.identityRoleClaims(user),
        }),
      }
    },
    // A new grant for every authorization, so consent (where roles decide) runs every time: a grant
    // reused from the session would skip it and could issue a code for nothing.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined
    },
    // MCP clients rarely ask for offline_access: a client registered for the refresh_token grant gets one.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Refresh tokens outlive the browser session that created them.
    expiresWithSession: async () => false,
    extraTokenClaims: (ctx, token) => profile.tokenClaims(facts(ctx, token)),
    formats: {
      customizers: {
        jwt(ctx, token, parts) {
          parts.header ??= {}
          profile.customizeJwt(parts.header, parts.payload, facts(ctx, token))
        },
      },
    },
    features: {
      devInteractions: { enabled: false },
      // RFC 7591 open registration, as MCP clients expect (off to imitate an IdP without it).
      registration: { enabled: options.registration },
      // MCP 2025-11-25: Client ID Metadata Documents, an https URL as client_id.
      clientIdMetadataDocument: { enabled: options.cimd !== undefined, ack: 'draft-02' },
      clientCredentials: { enabled: true },
      // RFC 9449: a token request with a DPoP proof gets DPoP-bound access tokens (cnf.jkt, in the
      // JWT and in introspection answers) and, for public clients, DPoP-bound refresh tokens.
      dPoP: { enabled: true },
      introspection: {
        enabled: profile.introspection,
        // RFC 7662 §2.1: only the resource server, or the client the token was issued to, may look.
        allowedPolicy: async (ctx, client, token) =>
          isResourceServer(client.clientId) || ownTokensOnly(ctx, client, token),
      },
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // RFC 8707 §2.2: a token request may omit `resource` and still get the granted one.
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, indicator) {
          const entry = resources.find(indicator)
          if (!entry) {
            const known = resources.list().map((r) => r.resource)
            // RFC 8707 §2: an unknown resource is invalid_target.
            throw new errors.InvalidTarget(
              `unknown resource ${indicator}; this IdP issues tokens for: ${known.join(', ') || '(none)'}`,
            )
          }
          return {
            scope: entry.scopes.join(' '),
            audience: entry.resource,
            accessTokenTTL: entry.accessTokenTtl,
            accessTokenFormat: entry.format,
            ...(entry.format === 'jwt' ? { jwt: { sign: { alg: profile.signingAlg } } } : {}),
          }
        },
      },
    },
    ...(options.cimd === undefined
      ? {}
      : {
          fetch: outboundFetch(options.cimd) as unknown as Configuration['fetch'],
          fetchResponseBodyLimits: {
            'client_id metadata document': options.cimd.maxBytes,
            jwks_uri: options.cimd.maxBytes * 20,
            sector_identifier_uri: options.cimd.maxBytes,
          },
        }),
    ttl: tokenLifetimes({
      accessTokenTtl: options.accessTokenTtl,
      refreshTokenTtl: options.refreshTokenTtl,
      grantTtl: Math.max(14 * 86_400, options.refreshTokenTtl),
    }),
    renderError: htmlErrorRenderer(messagePage, describedError),
  }
}
