import {
  type ClaimPath,
  type GateScopeOptions,
  type JwksKeySetOptions,
  type JwsAlgorithm,
  type JwsHeader,
  type JwtVerifier,
  jwtVerifier,
  OptionsError,
  type ScopeMapper,
  type StaticKey,
  scopeMapper,
  type TokenCacheOptions,
  type TokenVerifier,
} from '@portcullis/core'
import {
  claimPathSchema,
  deepFreeze,
  parseOptions,
  scopeTokenSchema,
  secureUrlProblem,
} from '@portcullis/core/adapter'
import { z } from 'zod'
import { type AudienceStrategy, audienceStrategySchema } from './audience-strategy.js'

/** The identity providers with a preset. */
export type IdpName = 'keycloak' | 'auth0' | 'entra' | 'okta' | 'cognito' | 'oidc'

/** Where a preset reads scopes, roles and the client from. */
export interface ClaimSources {
  /** Claims whose values are scopes as they are (space-separated string or array). */
  scopes: readonly ClaimPath[]
  /** Claims whose values are roles, groups or permissions: they grant what `roles` maps them to. */
  roles: readonly ClaimPath[]
  /** Claims naming the client (`AuthInfo.clientId`), the first present wins. */
  clientId: readonly string[]
}

/**
 * What a preset decided, as plain data: enough to read in a log, to diff against the IdP's
 * console, and for `diagnose` to check against the IdP. Nothing here holds a secret.
 */
export interface IdpDescription {
  name: IdpName
  /** Every `iss` value a token may carry, exactly (RFC 8414 §3.3: a trailing slash matters). */
  issuers: readonly string[]
  /** Where the signing keys are; `undefined` when they are found through the issuer's metadata. */
  jwksUri: string | undefined
  audienceStrategy: AudienceStrategy
  claims: ClaimSources
  /** Role (or group, permission) → the scopes it grants. */
  roles: Readonly<Record<string, readonly string[]>>
  /** Accepted JWS algorithms; `undefined` = the core default allow-list (asymmetric only). */
  algorithms: readonly string[] | undefined
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. */
  clockTolerance: number
  /** `strict`: JOSE `typ` must be `at+jwt` (RFC 9068 §4); `lenient`: `JWT` or none is accepted too. */
  typ: 'lenient' | 'strict'
  /** Claims a token must carry besides `iss` and the audience claim. */
  requiredClaims: readonly string[]
  /** IdP-specific checks beyond signature, issuer, audience and lifetime, in words. */
  checks: readonly string[]
  /** Token introspection (RFC 7662), when configured. The client secret is not repeated here. */
  introspection?: { endpoint: string; clientId: string; use: 'fallback' | 'always' }
  /** Keycloak realm. */
  realm?: string
  /** With a `client_id` strategy: what `aud` must name when a token carries one (Cognito resource binding); absent: one resource URL, checked by the gate. */
  resourceAudiences?: readonly string[]
  /** Entra tenants whose tokens are accepted, and the token version. */
  tenants?: readonly string[]
  version?: 1 | 2
}

/** The `GateOptions` fields a preset sets: where tokens come from and how they are verified. */
export interface PresetGateOptions {
  verifier: TokenVerifier
  authorizationServers: string[]
  scopes?: GateScopeOptions
}

/**
 * A preset: `options`, the `GateOptions` fields that say where tokens come from, ready to spread
 * into the Fastify plugin or the Express middleware next to `resource`; and `description`, what
 * the preset decided as plain data, for logs and `diagnose` (not a gate option).
 *
 * @example
 * const preset = keycloak({ url: 'https://id.example.com', realm: 'acme', audience: 'https://mcp.example.com/mcp' })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 * app.log.info({ idp: preset.description }, 'tokens from Keycloak')
 */
export interface IdpPreset {
  readonly options: PresetGateOptions
  readonly description: IdpDescription
}

/** Whether a value is a preset (rather than, say, plain `oidc()` options). */
export const isPreset = (value: unknown): value is IdpPreset =>
  typeof value === 'object' && value !== null && 'options' in value && 'description' in value

/** What every preset lets you override, field by field. */
export interface PresetOverrides {
  /** How tokens are bound to this resource server. Default: per IdP (see its docs page). */
  audienceStrategy?: AudienceStrategy
  /** Where scopes, roles and the client id are read, each list replacing the preset's. */
  claims?: Partial<ClaimSources>
  /** Role (or group, permission) → scopes, e.g. `{ 'mcp-admin': ['notes:admin'] }`. Roles not listed grant nothing. */
  roles?: Record<string, readonly string[]>
  /** JWS algorithms accepted. Default: the core allow-list (RSA, RSA-PSS, ECDSA, EdDSA; never HMAC or none). */
  algorithms?: JwsAlgorithm[]
  /** Leeway for `exp`, `nbf` and `iat`, in seconds (0–600). Default 60. */
  clockTolerance?: number
  /** `strict`: JOSE `typ` must be `at+jwt` (RFC 9068 §4); `lenient` also accepts `JWT` or none. */
  typ?: 'lenient' | 'strict'
  /** Claims a token must carry besides `iss` and the audience claim. */
  requiredClaims?: string[]
  /** Replaces the preset's JWKS URL (e.g. behind a proxy). */
  jwksUri?: string
  /** Fixed public keys instead of a JWKS URL (air-gapped set-ups, tests). */
  keys?: StaticKey[]
  /** Tuning of the remote key set (timeouts, cache ages). */
  jwks?: Omit<JwksKeySetOptions, 'jwksUri'>
  /** The verified-token cache, or `false`. */
  cache?: Omit<TokenCacheOptions, 'now'> | false
  /** Passed to the gate unchanged: `implies`, `base`, `supported`. */
  scopes?: GateScopeOptions
}

const rolesSchema = z.record(
  z.string().min(1, 'a role name must not be empty'),
  z.array(scopeTokenSchema).readonly(),
  { error: 'must map each role to the scopes it grants, e.g. { "mcp-admin": ["notes:admin"] }' },
)

/** zod shape of `PresetOverrides`, spread into each preset's schema. */
export const presetOverridesShape = {
  audienceStrategy: audienceStrategySchema.optional(),
  claims: z
    .strictObject({
      scopes: z.array(claimPathSchema).readonly().optional(),
      roles: z.array(claimPathSchema).readonly().optional(),
      clientId: z.array(z.string().min(1)).min(1).readonly().optional(),
    })
    .optional(),
  roles: rolesSchema.optional(),
  // Values are checked by jwtVerifier, whose message explains a refused algorithm (HMAC, none).
  algorithms: z
    .array(z.custom<JwsAlgorithm>((v) => typeof v === 'string'))
    .min(1)
    .optional(),
  clockTolerance: z.number().nonnegative().max(600).optional(),
  typ: z.enum(['lenient', 'strict']).optional(),
  requiredClaims: z.array(z.string().min(1)).optional(),
  jwksUri: z.string().min(1).optional(),
  keys: z
    .array(z.custom<StaticKey>((v) => typeof v === 'object' && v !== null))
    .min(1)
    .optional(),
  jwks: z.custom<Omit<JwksKeySetOptions, 'jwksUri'>>((v) => typeof v === 'object' && v !== null).optional(),
  cache: z
    .union([
      z.literal(false),
      z.custom<Omit<TokenCacheOptions, 'now'>>((v) => typeof v === 'object' && v !== null),
    ])
    .optional(),
  scopes: z.custom<GateScopeOptions>((v) => typeof v === 'object' && v !== null).optional(),
}

/** Validates a preset's options, naming the preset and the option in the error. */
export function parsePresetOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  owner: IdpName,
): z.output<S> {
  const parsed = parseOptions(schema, input, owner) as z.output<S> & { roles?: unknown }
  // The role map as given: validation's copy would drop a role named "__proto__".
  const roles = (input as { roles?: unknown }).roles
  return roles === undefined ? parsed : { ...parsed, roles }
}

/** The defaults a preset starts from; overrides replace them field by field. */
export interface PresetDefaults {
  name: IdpName
  issuers: readonly string[]
  jwksUri: string | undefined
  audienceStrategy: AudienceStrategy
  claims: ClaimSources
  typ: 'lenient' | 'strict'
  requiredClaims: readonly string[]
  checks: readonly string[]
}

/** The description of a preset: its defaults with the user's overrides applied. */
export function describePreset(
  defaults: PresetDefaults,
  overrides: PresetOverrides,
  more: Partial<IdpDescription> = {},
): IdpDescription {
  const claims = overrides.claims ?? {}
  return deepFreeze({
    name: defaults.name,
    issuers: [...defaults.issuers],
    jwksUri: overrides.keys !== undefined ? undefined : (overrides.jwksUri ?? defaults.jwksUri),
    audienceStrategy: overrides.audienceStrategy ?? defaults.audienceStrategy,
    claims: {
      scopes: claims.scopes ?? defaults.claims.scopes,
      roles: claims.roles ?? defaults.claims.roles,
      clientId: claims.clientId ?? defaults.claims.clientId,
    },
    // Copies: freezing the description must not freeze the caller's own arrays.
    roles: Object.fromEntries(
      Object.entries(overrides.roles ?? {}).map(([role, scopes]) => [role, [...scopes]]),
    ),
    algorithms: overrides.algorithms,
    clockTolerance: overrides.clockTolerance ?? 60,
    typ: overrides.typ ?? defaults.typ,
    requiredClaims: [...(overrides.requiredClaims ?? defaults.requiredClaims)],
    checks: [...defaults.checks],
    ...more,
  })
}

/**
 * The JWT verifier of one issuer as a description says, with the preset's extra claim checks.
 * A bad override surfaces as the preset's own option error.
 */
export function presetJwtVerifier(
  description: IdpDescription,
  issuer: string,
  overrides: PresetOverrides,
  validateClaims?: (claims: Record<string, unknown>, header: JwsHeader) => void,
  jwksUri: string | undefined = description.jwksUri,
): JwtVerifier {
  const { audienceStrategy, claims } = description
  return withOwner(description.name, () =>
    jwtVerifier({
      issuer,
      audience: [...audienceStrategy.values],
      audienceClaim: audienceStrategy.type,
      claimsToScopes: presetScopeMapper(description, overrides),
      clientIdClaims: [...claims.clientId],
      ...(description.resourceAudiences === undefined
        ? {}
        : { audienceIfPresent: [...description.resourceAudiences] }),
      typ: description.typ,
      requiredClaims: [...description.requiredClaims],
      clockTolerance: description.clockTolerance,
      ...(description.algorithms === undefined ? {} : { algorithms: [...description.algorithms] }),
      ...(overrides.keys !== undefined ? { keys: overrides.keys } : jwksUri !== undefined ? { jwksUri } : {}),
      ...(overrides.jwks === undefined ? {} : { jwks: overrides.jwks }),
      ...(overrides.cache === undefined ? {} : { cache: overrides.cache }),
      ...(validateClaims === undefined ? {} : { validateClaims }),
    }),
  )
}

/** The claims-to-scopes reading of a preset, for JWTs and introspection answers alike. */
export function presetScopeMapper(description: IdpDescription, overrides: PresetOverrides): ScopeMapper {
  return scopeMapper({
    scopeClaims: description.claims.scopes,
    roleClaims: description.claims.roles,
    roles: overrides.roles ?? {},
  })
}

/** The preset: its gate options (plain, spreadable) and its description, apart. */
export function presetOf(
  description: IdpDescription,
  verifier: TokenVerifier,
  authorizationServers: readonly string[],
  scopes: GateScopeOptions | undefined,
): IdpPreset {
  return {
    options: {
      verifier,
      authorizationServers: [...authorizationServers],
      ...(scopes === undefined ? {} : { scopes }),
    },
    description,
  }
}

/** Runs a core factory, its option errors re-labelled with the preset's name (core's `OptionsError.relabel`). */
export function withOwner<T>(owner: IdpName, build: () => T): T {
  try {
    return build()
  } catch (error) {
    throw error instanceof OptionsError ? error.relabel(owner) : error
  }
}

/** An origin or URL without its trailing slashes, for building IdP URLs. */
export const trimSlashes = (value: string) => value.replace(/\/+$/, '')

/** zod schema of an `audience` option: one value or several. */
export const audienceOptionSchema = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
    error: 'must be a string or a non-empty list of strings',
  })
  .transform((value) => (typeof value === 'string' ? [value] : value))

/** zod schema of a base URL: https, or http on a loopback host (development); no query or fragment. */
export const baseUrlSchema = z.string().superRefine((value, ctx) => {
  if (!URL.canParse(value)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not an absolute URL` })
    return
  }
  const url = new URL(value)
  const insecure = secureUrlProblem(url)
  if (insecure !== undefined) ctx.addIssue({ code: 'custom', message: insecure })
  if (value.includes('?') || value.includes('#') || url.username !== '' || url.password !== '') {
    ctx.addIssue({ code: 'custom', message: 'must not have a query, fragment or credentials' })
  }
})
