import { MCP_FALLBACK_ROUTES } from '@portcullis/provider-support'
import type { DevIdpShape, DevIdpUser, ResolvedOptions } from './options.js'

/**
 * The auth0 shape's ID-token and userinfo claim with the user's roles, the namespaced custom claim an
 * Auth0 post-login Action adds (`api.idToken.setCustomClaim`); `.invalid` keeps it from naming a real host.
 */
export const AUTH0_ROLES_CLAIM = 'https://portcullis.invalid/roles'

/** What a shape knows about the access token being issued. */
export interface TokenFacts {
  issuer: string
  clientId: string
  /** The signed-in user; undefined for client-credentials tokens. */
  accountId: string | undefined
  user: DevIdpUser | undefined
  scopes: readonly string[]
}

/** Endpoint paths below the issuer, as oidc-provider `routes`. */
export type Routes = Record<
  | 'authorization'
  | 'token'
  | 'jwks'
  | 'userinfo'
  | 'introspection'
  | 'revocation'
  | 'registration'
  | 'end_session'
  | 'pushed_authorization_request',
  string
>

/**
 * How one kind of IdP looks from the outside: issuer path, endpoint paths, signing algorithm and
 * access-token claims. The authorization server behind it is the same oidc-provider.
 */
export interface IdpShapeProfile {
  name: DevIdpShape
  /** Path the issuer adds to the origin: `''`, `'/realms/<realm>'` or `'/'` (Auth0's trailing slash). */
  issuerPath: string
  routes: Routes
  signingAlg: 'ES256' | 'RS256'
  introspection: boolean
  /** Names of the claims `identityRoleClaims` sets, released with the `openid` scope. */
  identityRoleClaimNames: readonly string[]
  /**
   * The user's roles as this IdP gives them to relying parties, in the ID token and userinfo:
   * `roles`; `realm_access` and `resource_access`; Auth0's namespaced custom claim `AUTH0_ROLES_CLAIM`.
   */
  identityRoleClaims(user: DevIdpUser | undefined): Record<string, unknown>
  /** Claims added to every access token (JWT payload, or introspection response for opaque tokens). */
  tokenClaims(facts: TokenFacts): Record<string, unknown>
  /** Last changes to a JWT access token's header and payload before signing. */
  customizeJwt(header: Record<string, unknown>, payload: Record<string, unknown>, facts: TokenFacts): void
}

/** Builds the profile of the configured shape. */
export function idpShapeProfile(options: ResolvedOptions): IdpShapeProfile {
  switch (options.shape) {
    case 'keycloak':
      return keycloakShape(options)
    case 'auth0':
      return auth0Shape(options)
    default:
      return genericShape(options)
  }
}

const userClaims = (facts: TokenFacts) => ({ ...(facts.user?.claims ?? {}) })

/** RFC 9068 tokens with a `roles` claim; endpoint paths that also match MCP 2025-03-26's fallbacks. */
function genericShape(options: ResolvedOptions): IdpShapeProfile {
  return {
    name: 'generic',
    issuerPath: '',
    routes: MCP_FALLBACK_ROUTES,
    signingAlg: options.signingAlg ?? 'ES256',
    introspection: true,
    identityRoleClaimNames: ['roles'],
    identityRoleClaims(user) {
      return user?.roles?.length ? { roles: [...user.roles] } : {}
    },
    tokenClaims(facts) {
      return { ...userClaims(facts), ...this.identityRoleClaims(facts.user) }
    },
    customizeJwt() {},
  }
}

/** Keycloak: `/realms/<realm>` issuer, `realm_access` / `resource_access` roles, `azp`, JOSE `typ: JWT`. */
function keycloakShape(options: ResolvedOptions): IdpShapeProfile {
  const realm = options.realm ?? 'portcullis'
  const audience = options.keycloakAudience ?? 'resource'
  const oidc = '/protocol/openid-connect'
  return {
    name: 'keycloak',
    issuerPath: `/realms/${realm}`,
    routes: {
      authorization: `${oidc}/auth`,
      token: `${oidc}/token`,
      jwks: `${oidc}/certs`,
      userinfo: `${oidc}/userinfo`,
      introspection: `${oidc}/token/introspect`,
      revocation: `${oidc}/revoke`,
      registration: '/clients-registrations/openid-connect',
      end_session: `${oidc}/logout`,
      pushed_authorization_request: `${oidc}/ext/par/request`,
    },
    signingAlg: options.signingAlg ?? 'RS256',
    introspection: true,
    identityRoleClaimNames: ['realm_access', 'resource_access'],
    identityRoleClaims(user) {
      const clientRoles = Object.entries(user?.clientRoles ?? {}).filter(([, roles]) => roles.length > 0)
      return {
        realm_access: { roles: [...(user?.roles ?? []), `default-roles-${realm}`] },
        ...(clientRoles.length
          ? { resource_access: Object.fromEntries(clientRoles.map(([client, roles]) => [client, { roles }])) }
          : {}),
      }
    },
    tokenClaims(facts) {
      return {
        ...userClaims(facts),
        typ: 'Bearer',
        azp: facts.clientId,
        preferred_username: facts.accountId ?? `service-account-${facts.clientId}`,
        ...this.identityRoleClaims(facts.user),
      }
    },
    customizeJwt(header, payload) {
      header.typ = 'JWT'
      // Keycloak names the client in `azp` only.
      delete payload.client_id
      // Keycloak's "audience resolve" mapper adds `account` unless an Audience mapper is configured.
      if (audience === 'account') payload.aud = 'account'
      else if (audience === 'resource+account') payload.aud = [payload.aud, 'account']
    },
  }
}

/** Auth0: issuer with a trailing slash, `permissions`, `azp`, `gty`, array `aud` when `openid` is granted. */
function auth0Shape(options: ResolvedOptions): IdpShapeProfile {
  const dialect = options.auth0Dialect ?? 'access_token_authz'
  return {
    name: 'auth0',
    issuerPath: '/',
    routes: {
      authorization: '/authorize',
      token: '/oauth/token',
      jwks: '/.well-known/jwks.json',
      userinfo: '/userinfo',
      introspection: '/introspect',
      revocation: '/oauth/revoke',
      registration: '/oidc/register',
      end_session: '/oidc/logout',
      pushed_authorization_request: '/oauth/par',
    },
    signingAlg: options.signingAlg ?? 'RS256',
    // Auth0 has no RFC 7662 endpoint: APIs validate its JWTs locally.
    introspection: false,
    identityRoleClaimNames: [AUTH0_ROLES_CLAIM],
    // Auth0 puts no roles in ID tokens by itself; a post-login Action adds a namespaced claim.
    identityRoleClaims(user) {
      return { [AUTH0_ROLES_CLAIM]: [...(user?.roles ?? [])] }
    },
    tokenClaims(facts) {
      const machine = facts.accountId === undefined
      return {
        ...userClaims(facts),
        azp: facts.clientId,
        // Auth0 RBAC: a user's assigned permissions; a machine client's granted scopes.
        permissions: machine ? [...facts.scopes] : [...(facts.user?.permissions ?? [])],
        ...(machine ? { gty: 'client-credentials' } : {}),
      }
    },
    customizeJwt(header, payload, facts) {
      if (dialect === 'access_token_authz') {
        header.typ = 'JWT'
        delete payload.client_id
      }
      if (facts.accountId === undefined) payload.sub = `${facts.clientId}@clients`
      // Auth0 adds its userinfo endpoint to `aud` when `openid` is granted.
      if (facts.scopes.includes('openid')) payload.aud = [payload.aud, `${facts.issuer}userinfo`]
    },
  }
}
