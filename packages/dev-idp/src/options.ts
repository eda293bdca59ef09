import { parseOptions, resourceUrlSchema } from '@portcullis/core/adapter'
import { lifetimeSeconds } from '@portcullis/provider-support'
import { z } from 'zod'

/** The scopes a resource gets when its entry names none: the notes example's scopes. */
export const DEFAULT_RESOURCE_SCOPES: readonly string[] = ['notes:read', 'notes:write', 'notes:admin']

/**
 * Role → the scopes it lets a user obtain, the way `@portcullis/idp` presets map roles to scopes:
 * alice (notes-admin) may have every notes scope, bob (notes-reader) only notes:read.
 */
export const DEFAULT_ROLES: Readonly<Record<string, readonly string[]>> = {
  'notes-admin': ['notes:read', 'notes:write', 'notes:admin'],
  'notes-editor': ['notes:read', 'notes:write'],
  'notes-reader': ['notes:read'],
}

/** The users who can sign in with roles: an admin, a reader, and carol, who has no notes role. */
export const DEFAULT_USERS: Readonly<Record<string, DevIdpUser>> = {
  alice: {
    roles: ['notes-admin', 'notes-editor'],
    clientRoles: { 'notes-api': ['admin'] },
    permissions: ['notes:read', 'notes:write', 'notes:admin'],
    claims: { name: 'Alice Admin', email: 'alice@example.test' },
  },
  bob: {
    roles: ['notes-reader'],
    clientRoles: { 'notes-api': ['reader'] },
    permissions: ['notes:read'],
    claims: { name: 'Bob Reader', email: 'bob@example.test' },
  },
  carol: {
    roles: ['staff'],
    claims: { name: 'Carol Staff', email: 'carol@example.test' },
  },
}

/** The resources served when none are configured: one MCP server verifying JWTs, one introspecting. */
export const DEFAULT_RESOURCES: readonly DevIdpResourceOptions[] = [
  { resource: 'http://localhost:3000/mcp', format: 'jwt' },
  { resource: 'http://localhost:3001/mcp', format: 'opaque' },
]

/** Which real IdP the tokens, issuer and endpoint paths imitate. */
export type DevIdpShape = 'generic' | 'keycloak' | 'auth0'

/** A user who can sign in. Any other user name can sign in too, with no roles or extra claims. */
export interface DevIdpUser {
  /**
   * `roles` claim (generic shape) or `realm_access.roles` (keycloak shape). Each role lets the user
   * obtain the scopes the `roles` option maps it to.
   */
  roles?: string[]
  /** `resource_access.<client>.roles` (keycloak shape), keyed by client id. */
  clientRoles?: Record<string, string[]>
  /** `permissions` claim (auth0 shape): scopes the user may obtain directly, as Auth0 RBAC assigns them. */
  permissions?: string[]
  /** Extra access-token and userinfo claims. They never replace a claim the server sets (`sub`, `aud`, ...). */
  claims?: Record<string, unknown>
}

/** A protected resource (an MCP server) the IdP issues access tokens for (RFC 8707). */
export interface DevIdpResourceOptions {
  /** The resource indicator: the MCP server's canonical URL, also the token `aud`. */
  resource: string
  /** Scopes a client may obtain for this resource. Default: notes:read notes:write notes:admin. */
  scopes?: string[]
  /**
   * Scopes granted when an authorization request names no `scope` (RFC 6749 §3.3's pre-defined
   * default). Each must be one of `scopes`. Default: the first of `scopes`.
   */
  baseScopes?: string[]
  /** `jwt` (RFC 9068, verified with the JWKS) or `opaque` (verified by RFC 7662 introspection). Default `jwt`. */
  format?: 'jwt' | 'opaque'
  /** Access-token lifetime in seconds for this resource. Default: the server-wide `accessTokenTtl`. */
  accessTokenTtl?: number
}

/** Options of `startDevIdp`. Every option is optional. */
export interface DevIdpOptions {
  /** Token and issuer shape: `generic` (RFC 9068), `keycloak` or `auth0`. Default `generic`. */
  shape?: DevIdpShape
  /** Keycloak realm name, so the issuer is `<url>/realms/<realm>`. Keycloak shape only. Default `portcullis`. */
  realm?: string
  /**
   * Keycloak shape only: `resource` (an Audience mapper puts the resource in `aud`, the working setup),
   * `account` (`aud: "account"` only, Keycloak's default and the classic MCP failure) or
   * `resource+account` (both, as an array). Default `resource`.
   */
  keycloakAudience?: 'resource' | 'account' | 'resource+account'
  /**
   * Keycloak shape only: serve RFC 8414 metadata at the path-inserted URL
   * `/.well-known/oauth-authorization-server/realms/<realm>` (Keycloak >= 26.4). Default true.
   */
  pathInsertedMetadata?: boolean
  /**
   * Auth0 shape only: the API's token dialect. `access_token_authz` (JOSE `typ: JWT`, `azp`, no `client_id`)
   * or `rfc9068_profile_authz` (`typ: at+jwt`, `client_id`). Both carry `permissions`. Default `access_token_authz`.
   */
  auth0Dialect?: 'access_token_authz' | 'rfc9068_profile_authz'
  /** Serve `/.well-known/oauth-authorization-server` at all (false imitates IdPs with OIDC discovery only). Default true. */
  oauthMetadata?: boolean
  /** Loopback host to listen on and to name in the issuer. Default `127.0.0.1`. */
  host?: '127.0.0.1' | 'localhost' | '::1'
  /** Port; 0 picks a free one. Default 0. */
  port?: number
  /** Resources (MCP servers) to issue tokens for. More can be added later with `addResource`. */
  resources?: DevIdpResourceOptions[]
  /** Users with roles and claims, keyed by user name (the token `sub`). Default: alice, bob and carol. */
  users?: Record<string, DevIdpUser>
  /**
   * Role → the scopes it lets a user obtain (a user's `permissions` count as scopes directly).
   * A scope that no role names is open to every signed-in user. Default: `DEFAULT_ROLES`.
   */
  roles?: Record<string, string[]>
  /** User signed in when an authorization request has no `login_hint`. Default: the first of `users`. */
  defaultUser?: string
  /** `auto`: sign in as `login_hint` (or `defaultUser`) with no page; `form`: show a sign-in form. Default `auto`. */
  login?: 'auto' | 'form'
  /** Ids and secrets of the pre-registered clients. Secrets default to random ones (kept in `keysFile` if given). */
  clients?: {
    machine?: { clientId?: string; clientSecret?: string }
    resourceServer?: { clientId?: string; clientSecret?: string }
    public?: { clientId?: string; redirectUris?: string[] }
  }
  /**
   * More statically registered clients, as RFC 7591 client metadata (passed to oidc-provider as is),
   * e.g. the confidential client of a broker that uses this IdP as its upstream.
   */
  extraClients?: Array<Record<string, unknown> & { client_id: string }>
  /**
   * `false` imitates an IdP without open client onboarding: no dynamic registration (RFC 7591) and
   * no Client ID Metadata Documents; only the static clients and `extraClients` exist. Default true.
   */
  registration?: boolean
  /**
   * Client ID Metadata Documents (an `https` URL as `client_id`): `false` turns them off; an object
   * sets the limits of fetching a client's URL. On by default unless `registration` is false.
   */
  clientIdMetadataDocuments?: boolean | ClientIdMetadataDocumentOptions
  /**
   * Last word on the oidc-provider configuration, for what these options do not cover. Receives the
   * configuration the dev IdP built and returns the one to use (it may change it in place).
   */
  configureProvider?: (configuration: ProviderConfiguration) => ProviderConfiguration | undefined
  /** JSON file holding the signing keys and client secrets, created when missing, so tokens survive a restart. */
  keysFile?: string
  /** JWS algorithm of access tokens. Default: ES256 (generic), RS256 (keycloak, auth0). */
  signingAlg?: 'ES256' | 'RS256'
  /** Access-token lifetime in seconds. Default 600. */
  accessTokenTtl?: number
  /** Refresh-token lifetime in seconds. Default 86400. */
  refreshTokenTtl?: number
  /** Browser origins allowed by CORS besides loopback ones (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`). */
  corsOrigins?: string[]
  /** Hide oidc-provider's start-up notices meant for production set-ups. Default true. */
  quiet?: boolean
}

/**
 * oidc-provider's `Configuration` as `configureProvider` sees it: cast it to the type from
 * `@types/oidc-provider` for checked access (declared loosely so the published declarations import
 * nothing from oidc-provider).
 */
export type ProviderConfiguration = Record<string, any>

/** Limits of fetching a client's metadata document (the URL an attacker chooses). */
export interface ClientIdMetadataDocumentOptions {
  /** Allow documents on loopback addresses (a client under development). Default true. */
  allowLoopback?: boolean
  /** Allow private, link-local and other special-use addresses. Default false. */
  allowPrivateNetworks?: boolean
  /** Largest document in bytes. Default 5120. */
  maxBytes?: number
  /** Time for the whole fetch in milliseconds. Default 2500. */
  timeoutMs?: number
  /** Extra trusted CA certificates (PEM), e.g. a development CA such as mkcert's. */
  ca?: string | string[]
}

const seconds = lifetimeSeconds
const nonEmpty = z.string().min(1)
const token = z.string().regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' })

const userSchema = z.strictObject({
  roles: z.array(nonEmpty).optional(),
  clientRoles: z.record(nonEmpty, z.array(nonEmpty)).optional(),
  permissions: z.array(nonEmpty).optional(),
  claims: z.record(z.string(), z.unknown()).optional(),
})

export const resourceSchema = z
  .strictObject({
    resource: resourceUrlSchema,
    scopes: z.array(token).optional(),
    baseScopes: z.array(token).optional(),
    format: z.enum(['jwt', 'opaque']).optional(),
    accessTokenTtl: seconds.optional(),
  })
  .superRefine((entry, ctx) => {
    const scopes = new Set(entry.scopes ?? DEFAULT_RESOURCE_SCOPES)
    entry.baseScopes?.forEach((scope, at) => {
      if (!scopes.has(scope)) {
        ctx.addIssue({
          code: 'custom',
          path: ['baseScopes', at],
          message: `${JSON.stringify(scope)} is not one of the resource's scopes`,
        })
      }
    })
  })

const origin = z.string().refine((value) => URL.canParse(value) && new URL(value).origin === value, {
  error: 'must be an origin such as https://app.example (scheme, host and port only)',
})

export const optionsSchema = z
  .strictObject({
    shape: z.enum(['generic', 'keycloak', 'auth0']).default('generic'),
    realm: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'must be letters, digits, ".", "_" or "-"' })
      .optional(),
    keycloakAudience: z.enum(['resource', 'account', 'resource+account']).optional(),
    pathInsertedMetadata: z.boolean().optional(),
    auth0Dialect: z.enum(['access_token_authz', 'rfc9068_profile_authz']).optional(),
    oauthMetadata: z.boolean().default(true),
    host: z.enum(['127.0.0.1', 'localhost', '::1']).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
    resources: z.array(resourceSchema).optional(),
    users: z.record(nonEmpty, userSchema).optional(),
    roles: z.record(nonEmpty, z.array(token)).optional(),
    defaultUser: nonEmpty.optional(),
    login: z.enum(['auto', 'form']).default('auto'),
    clients: z
      .strictObject({
        machine: z.strictObject({ clientId: token.optional(), clientSecret: token.optional() }).optional(),
        resourceServer: z
          .strictObject({ clientId: token.optional(), clientSecret: token.optional() })
          .optional(),
        public: z
          .strictObject({ clientId: token.optional(), redirectUris: z.array(z.url()).min(1).optional() })
          .optional(),
      })
      .default({}),
    extraClients: z.array(z.looseObject({ client_id: token })).default([]),
    registration: z.boolean().default(true),
    clientIdMetadataDocuments: z
      .union([
        z.boolean(),
        z.strictObject({
          allowLoopback: z.boolean().optional(),
          allowPrivateNetworks: z.boolean().optional(),
          maxBytes: z
            .number()
            .int()
            .positive()
            .max(1024 * 1024)
            .optional(),
          timeoutMs: z.number().int().positive().max(60_000).optional(),
          ca: z.union([nonEmpty, z.array(nonEmpty)]).optional(),
        }),
      ])
      .optional(),
    configureProvider: z
      .custom<(configuration: ProviderConfiguration) => ProviderConfiguration | undefined>(
        (v) => typeof v === 'function',
        {
          error: 'must be a function (configuration) => configuration',
        },
      )
      .optional(),
    keysFile: nonEmpty.optional(),
    signingAlg: z.enum(['ES256', 'RS256']).optional(),
    accessTokenTtl: seconds.default(600),
    refreshTokenTtl: seconds.default(86_400),
    corsOrigins: z.array(origin).default([]),
    quiet: z.boolean().default(true),
  })
  .superRefine((options, ctx) => {
    const only = (key: keyof typeof options, shape: DevIdpShape) => {
      if (options[key] !== undefined && options.shape !== shape) {
        ctx.addIssue({ code: 'custom', path: [key], message: `applies to shape "${shape}" only` })
      }
    }
    only('realm', 'keycloak')
    only('keycloakAudience', 'keycloak')
    only('pathInsertedMetadata', 'keycloak')
    only('auth0Dialect', 'auth0')
    const users = options.users ?? DEFAULT_USERS
    if (Object.keys(users).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['users'], message: 'must name at least one user' })
    }
    if (!options.registration && options.clientIdMetadataDocuments) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientIdMetadataDocuments'],
        message: 'cannot be on with registration: false (an IdP without DCR or CIMD)',
      })
    }
    const resources = options.resources ?? []
    const seen = new Set<string>()
    resources.forEach((entry, index) => {
      if (seen.has(entry.resource)) {
        ctx.addIssue({ code: 'custom', path: ['resources', index, 'resource'], message: 'is listed twice' })
      }
      seen.add(entry.resource)
    })
  })

/** Options after validation and defaults. */
export type ResolvedOptions = Omit<z.output<typeof optionsSchema>, 'roles'> & {
  users: Record<string, DevIdpUser>
  roles: Record<string, readonly string[]>
  cimd: (Required<Omit<ClientIdMetadataDocumentOptions, 'ca'>> & { ca: string[] }) | undefined
  defaultUser: string
  resources: ResolvedResource[]
}

/** A resource after validation: canonical URL, scopes and format decided. */
export interface ResolvedResource {
  resource: string
  scopes: string[]
  /** Scopes of a request without `scope`. */
  baseScopes: string[]
  format: 'jwt' | 'opaque'
  accessTokenTtl: number
}

/**
 * Validates `startDevIdp` options and fills in defaults. Throws a TypeError naming the bad option.
 *
 * @example
 * resolveOptions({ shape: 'keycloak', realm: 'acme' }).realm // 'acme'
 */
export function resolveOptions(input: DevIdpOptions = {}): ResolvedOptions {
  const options = parseOptions(optionsSchema, input, 'startDevIdp')
  const users = options.users ?? { ...DEFAULT_USERS }
  const defaultUser = options.defaultUser ?? Object.keys(users)[0]!
  const resources = (options.resources ?? DEFAULT_RESOURCES.map((r) => resourceSchema.parse(r))).map((r) =>
    resolveResource(r, options.accessTokenTtl),
  )
  const roles = options.roles ?? { ...DEFAULT_ROLES }
  return { ...options, users, roles, defaultUser, resources, cimd: resolveCimd(options) }
}

function resolveCimd(options: z.output<typeof optionsSchema>): ResolvedOptions['cimd'] {
  const setting = options.clientIdMetadataDocuments ?? options.registration
  if (setting === false) return undefined
  const given = setting === true ? {} : setting
  return {
    allowLoopback: given.allowLoopback ?? true,
    allowPrivateNetworks: given.allowPrivateNetworks ?? false,
    maxBytes: given.maxBytes ?? 5 * 1024,
    timeoutMs: given.timeoutMs ?? 2500,
    ca: given.ca === undefined ? [] : [given.ca].flat(),
  }
}

/** Fills in a validated resource entry's defaults. */
export function resolveResource(
  entry: z.output<typeof resourceSchema>,
  defaultTtl: number,
): ResolvedResource {
  const scopes = entry.scopes ?? [...DEFAULT_RESOURCE_SCOPES]
  return {
    resource: entry.resource,
    scopes,
    baseScopes: entry.baseScopes ?? scopes.slice(0, 1),
    format: entry.format ?? 'jwt',
    accessTokenTtl: entry.accessTokenTtl ?? defaultTtl,
  }
}
