import { introspectionVerifier, invalidToken, OptionsError, type TokenVerifier } from '@portcullis/core'
import { dpopBinding } from '@portcullis/core/adapter'
import { z } from 'zod'
import { show } from './advice.js'
import { explainedVerifier } from './explained-verifier.js'
import { introspectionFallback } from './introspection-fallback.js'
import {
  audienceOptionSchema,
  baseUrlSchema,
  describePreset,
  type IdpPreset,
  type PresetOverrides,
  parsePresetOptions,
  presetJwtVerifier,
  presetOf,
  presetOverridesShape,
  presetScopeMapper,
  trimSlashes,
  withOwner,
} from './preset.js'

export interface KeycloakIntrospectionOptions {
  /** A confidential client allowed to introspect (idp-realities §1.3: public clients cannot). */
  clientId: string
  clientSecret: string
  /**
   * `fallback` (default): JWTs are verified locally and introspected only when stripped of the role
   * claims (lightweight access tokens) or when they are not JWTs. `always`: every token is
   * introspected (revocation seen within the cache TTL, one call per token).
   */
  use?: 'fallback' | 'always'
  /** Default: the realm's `protocol/openid-connect/token/introspect`. */
  endpoint?: string
}

export interface KeycloakOptions extends PresetOverrides {
  /** Keycloak's base URL as its hostname setting names it (tokens' `iss` starts with it), e.g. `https://id.example.com`. */
  url: string
  /** The realm name. */
  realm: string
  /** What tokens carry in `aud`: this server's resource URL, put there by an Audience mapper. */
  audience: string | string[]
  /** The Keycloak client standing for this server: its client roles (`resource_access.<clientId>.roles`) are read too. */
  clientId?: string
  /** Token introspection, for lightweight access tokens and opaque tokens. */
  introspection?: KeycloakIntrospectionOptions
}

const keycloakSchema = z.strictObject({
  url: baseUrlSchema,
  realm: z.string().min(1, 'realm must not be empty'),
  audience: audienceOptionSchema,
  clientId: z.string().min(1).optional(),
  introspection: z
    .strictObject({
      clientId: z.string().min(1),
      clientSecret: z.string().min(1),
      use: z.enum(['fallback', 'always']).optional(),
      endpoint: z.string().min(1).optional(),
    })
    .optional(),
  ...presetOverridesShape,
})

/**
 * Tokens from a Keycloak realm (idp-realities §1):
 * - issuer `<url>/realms/<realm>` (no trailing slash), keys from `protocol/openid-connect/certs`;
 * - audience: `aud` contains `audience`. Keycloak puts the MCP server there only through an
 *   Audience mapper; `aud` may be a string or an array that also holds `account` (§1.2);
 * - the client is `azp` (Keycloak issues no `client_id` claim by default, §1.2);
 * - scopes from `scope`; roles from `realm_access.roles` and, with `clientId`,
 *   `resource_access.<clientId>.roles`, granting what `roles` maps them to;
 * - the payload `typ` must be `Bearer` when present: Keycloak marks ID (`ID`), refresh (`Refresh`)
 *   and DPoP-bound (`DPoP`, with `cnf.jkt`) tokens there; JOSE `typ` is `JWT`, or `at+jwt` with
 *   the client's opt-in RFC 9068 header setting;
 * - optional introspection with a confidential client, for lightweight access tokens (§1.3).
 *
 * @example
 * const preset = keycloak({
 *   url: 'https://id.example.com',
 *   realm: 'acme',
 *   audience: 'https://mcp.example.com/mcp',
 *   clientId: 'notes-api',
 *   roles: { 'notes-admin': ['notes:admin'] },
 * })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 */
export function keycloak(options: KeycloakOptions): IdpPreset {
  const o = parsePresetOptions(keycloakSchema, options, 'keycloak')
  const issuer = `${trimSlashes(o.url)}/realms/${encodeURIComponent(o.realm)}`
  const introspection = o.introspection
  const description = describePreset(
    {
      name: 'keycloak',
      issuers: [issuer],
      jwksUri: `${issuer}/protocol/openid-connect/certs`,
      audienceStrategy: { type: 'aud', values: o.audience },
      claims: {
        scopes: ['scope'],
        roles: [
          ['realm_access', 'roles'],
          ...(o.clientId === undefined ? [] : [['resource_access', o.clientId, 'roles']]),
        ],
        clientId: ['azp', 'client_id'],
      },
      // Keycloak types access tokens "JWT", or "at+jwt" when the client opts in: lenient accepts both.
      typ: 'lenient',
      requiredClaims: ['exp'],
      checks: [
        'payload typ is "Bearer" when present (Keycloak marks ID tokens "ID", refresh tokens "Refresh", DPoP-bound tokens "DPoP")',
      ],
    },
    o,
    {
      realm: o.realm,
      ...(introspection === undefined
        ? {}
        : {
            introspection: {
              endpoint: introspection.endpoint ?? `${issuer}/protocol/openid-connect/token/introspect`,
              clientId: introspection.clientId,
              use: introspection.use ?? 'fallback',
            },
          }),
    },
  )
  const local = presetJwtVerifier(description, issuer, o, (claims) => {
    // idp-realities §1.2: access tokens carry typ "Bearer" in the payload, "DPoP" when DPoP-bound.
    if (claims.typ === 'ID') {
      throw invalidToken('id_token_presented', 'Keycloak token typ "ID" is an ID token, not an access token')
    }
    if (claims.typ === 'DPoP' && dpopBinding(claims.cnf) === undefined) {
      // Keycloak DPoP guide: bound tokens also carry cnf.jkt, which core checks (refused as Bearer,
      // accepted with a proof when the gate's dpop option is on); this covers a mapper that drops it.
      throw invalidToken(
        'token_sender_constrained',
        'Keycloak token typ "DPoP" is bound to a DPoP key; this server accepts Bearer tokens only',
      )
    }
    if (claims.typ !== undefined && claims.typ !== 'Bearer' && claims.typ !== 'DPoP') {
      throw invalidToken(
        'token_type_invalid',
        `Keycloak token typ ${show(claims.typ)} is not an access token`,
      )
    }
  })
  let verifier: TokenVerifier = local
  if (description.introspection !== undefined && introspection !== undefined) {
    const strategy = description.audienceStrategy
    if (strategy.type !== 'aud') {
      throw new OptionsError(
        'keycloak',
        'option "introspection": introspection answers are checked by aud; use an audienceStrategy of type "aud"',
      )
    }
    const remote = withOwner('keycloak', () =>
      introspectionVerifier({
        issuer,
        endpoint: description.introspection!.endpoint,
        clientId: introspection.clientId,
        clientSecret: introspection.clientSecret,
        audience: [...strategy.values],
        clockTolerance: description.clockTolerance,
        claimsToScopes: presetScopeMapper(description, o),
      }),
    )
    const hasRoles = Object.keys(description.roles).length > 0
    verifier =
      description.introspection.use === 'always'
        ? remote
        : introspectionFallback({ local, remote, expectedClaims: hasRoles ? description.claims.roles : [] })
  }
  return presetOf(description, explainedVerifier(verifier, description), [issuer], o.scopes)
}
