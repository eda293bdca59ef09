import type { ClaimPath } from '@portcullis/core'
import {
  claimPathSchema,
  parseOptions,
  resourceUrlSchema,
  scopeTokenSchema,
  secureUrlProblem,
} from '@portcullis/core/adapter'
import type { IdpPreset } from '@portcullis/idp'
import { lifetimeSeconds } from '@portcullis/provider-support'
import { z } from 'zod'
import type { ProviderAdapterFactory } from './provider-types.js'

/** The owner named in option errors. */
export const OWNER = 'createAuthorizationServer'

/** A protected resource (an MCP server) the broker issues access tokens for (RFC 8707). */
export interface BrokerResourceOptions {
  /** The MCP endpoint's canonical URL: the resource indicator and the token `aud`. */
  resource: string
  /** Every scope a token for this resource may carry. */
  scopes: string[]
  /** Scopes an authorization request without `scope` asks for (still cut to what the user may have). Default: `scopes`. */
  defaultScopes?: string[]
  /** Access-token lifetime in seconds. Default: the server-wide `accessTokenTtl`. */
  accessTokenTtl?: number
}

/** The organisation's IdP, where users really sign in, through one confidential client. */
export interface UpstreamOptions {
  /**
   * The upstream issuer identifier; its OIDC discovery document is read at start-up. Default: the
   * `preset`'s issuer (`keycloak(...)`, `auth0(...)`, `entra(...)` know theirs).
   */
  issuer?: string
  clientId: string
  clientSecret: string
  /** Scopes asked of the upstream. Default `openid profile email`. */
  scopes?: string[]
  /** Extra authorization-request parameters, e.g. `{ audience }` (Auth0) or `{ resource }` (RFC 8707). */
  authorizationParams?: Record<string, string>
  /** Extra token-request parameters of the code exchange and refreshes. */
  tokenParams?: Record<string, string>
  /**
   * A `@portcullis/idp` preset for the upstream's own access tokens: when given, the upstream access
   * token is verified with it and the scopes its roles mapping grants are what the user may have.
   */
  preset?: IdpPreset
  /** Read the userinfo endpoint after sign-in (its claims join the ID token's for `roles`). Default true. */
  userinfo?: boolean
  /** Time limit of each upstream request, in milliseconds. Default 10000. */
  timeoutMs?: number
  /**
   * A plain OAuth 2.0 upstream without OIDC (GitHub): its endpoints, given instead of discovered,
   * and the user endpoint that says who signed in. `issuer` then names it (e.g. `https://github.com`).
   */
  oauth?: {
    authorizationEndpoint: string
    tokenEndpoint: string
    /** Answers the user's JSON for the access token (GitHub: `https://api.github.com/user`). */
    userEndpoint: string
    revocationEndpoint?: string
    /** The member of the user JSON that identifies the user. Default `id`, else `sub`. */
    subjectClaim?: string
  }
  /** How the broker authenticates at the token endpoint. Default `client_secret_basic`. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post'
}

/** Roles (or groups) in the upstream ID token or userinfo → MCP scopes, through core's `scopeMapper`. */
export interface RoleScopeOptions {
  /** Claims holding roles or groups. Default `['roles', 'groups']`. */
  claims?: ClaimPath[]
  /** Role → scopes it grants. A role not listed grants nothing. */
  scopes: Record<string, string[]>
}

/** A confidential machine client allowed the client-credentials grant. */
export interface MachineClientOptions {
  clientId: string
  /** At least 32 characters; compared in constant time by oidc-provider. */
  clientSecret: string
  /** The scopes it may obtain. */
  scopes: string[]
  /** Shown nowhere but logs and introspection. */
  name?: string
}

/** Options of `createAuthorizationServer`. */
export interface AuthorizationServerOptions {
  /** The broker's issuer identifier: an origin (`https://mcp.example.com`, or loopback http in development). */
  issuer: string
  /** The MCP servers tokens are issued for. */
  resources: BrokerResourceOptions[]
  upstream: UpstreamOptions
  /** Roles in the upstream identity → scopes (besides, or instead of, `upstream.preset`). */
  roles?: RoleScopeOptions
  /** Dynamic client registration (RFC 7591). Default: open, 20 registrations per address per minute. */
  registration?: {
    mode?: 'open' | 'initial-access-token' | 'off'
    /** The token `mode: 'initial-access-token'` requires (RFC 7591 §3), at least 32 characters. */
    initialAccessToken?: string
    /** Registrations one client address may make per minute. Default 20. */
    perMinute?: number
  }
  /** Client ID Metadata Documents: `client_id` is an https URL the broker fetches. Default enabled. */
  clientIdMetadataDocuments?: {
    enabled?: boolean
    /** Fetch documents from loopback hosts (over http too). Development only. Default false. */
    allowLoopback?: boolean
    /** Fetch documents from private, link-local and other special-use addresses. Default false. */
    allowPrivateAddresses?: boolean
    /** Time limit of one fetch, in milliseconds. Default 2500 (oidc-provider's). */
    timeoutMs?: number
    /** Largest document accepted, in bytes. Default 5120 (oidc-provider's). */
    maxBytes?: number
    /** The fetch used (a proxy, a private CA); the rules above apply around it. Default `globalThis.fetch`. */
    fetch?: typeof fetch
  }
  /** Confidential clients for the client-credentials grant (machine to machine). */
  machineClients?: MachineClientOptions[]
  /**
   * DPoP (RFC 9449): a token request with a DPoP proof gets tokens bound to the client's key
   * (`token_type: DPoP`, `cnf.jkt`), a public client's refresh token too. Default off: a resource
   * server that checks no DPoP proofs refuses bound tokens (fail closed), so turn it on together
   * with DPoP at the MCP server.
   */
  dpop?: {
    enabled?: boolean
    /** Proofs must carry a nonce from the broker (RFC 9449 §8), which bounds their age. Default false. */
    requireNonce?: boolean
  }
  /**
   * JSON file holding the signing keys and the key that encrypts upstream tokens, created when
   * missing. Without it every start has fresh keys (tokens issued before do not verify).
   */
  keysFile?: string
  /** Signing-key rotation: a new key after `rotateAfterDays`; the old one stays published `overlapDays` more. */
  keyRotation?: { rotateAfterDays?: number; overlapDays?: number }
  /** oidc-provider adapter for all state (grants, codes, sessions, upstream tokens). Default: bounded memory. */
  adapter?: ProviderAdapterFactory
  /** Access-token lifetime in seconds. Default 600. */
  accessTokenTtl?: number
  /** Refresh-token lifetime in seconds. Default 14 days. */
  refreshTokenTtl?: number
  /** Path of the upstream redirect URI below the issuer. Default `/oauth/upstream/callback`. */
  upstreamCallbackPath?: string
  /** Keys that sign the broker's cookies; give the same ones to every instance. Default: from the keys file. */
  cookieKeys?: string[]
}

const seconds = lifetimeSeconds
const nonEmpty = z.string().min(1)
const secret = z.string().min(32, { error: 'must be at least 32 characters' })
const scopeList = z.array(scopeTokenSchema)

const secureUrl = z.string().refine((value) => URL.canParse(value) && !secureUrlProblem(value), {
  error: (issue) =>
    URL.canParse(issue.input as string)
      ? (secureUrlProblem(issue.input as string) ?? 'is not a URL')
      : 'is not a URL',
})

const resourceSchema = z
  .strictObject({
    resource: resourceUrlSchema,
    scopes: scopeList.min(1, { error: 'must name at least one scope' }),
    defaultScopes: scopeList.optional(),
    accessTokenTtl: seconds.optional(),
  })
  .superRefine((entry, ctx) => {
    for (const scope of entry.defaultScopes ?? []) {
      if (!entry.scopes.includes(scope))
        ctx.addIssue({ code: 'custom', path: ['defaultScopes'], message: `${scope} is not in scopes` })
    }
  })

const presetSchema = z.custom<IdpPreset>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as IdpPreset).options?.verifier?.verifyAccessToken === 'function',
  { error: 'must be a @portcullis/idp preset (keycloak(...), auth0(...), oidc(...), ...)' },
)

const upstreamSchema = z.strictObject({
  issuer: secureUrl.optional(),
  clientId: nonEmpty,
  clientSecret: nonEmpty,
  scopes: scopeList.min(1).default(['openid', 'profile', 'email']),
  authorizationParams: z.record(nonEmpty, z.string()).default({}),
  tokenParams: z.record(nonEmpty, z.string()).default({}),
  preset: presetSchema.optional(),
  userinfo: z.boolean().default(true),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  oauth: z
    .strictObject({
      authorizationEndpoint: secureUrl,
      tokenEndpoint: secureUrl,
      userEndpoint: secureUrl,
      revocationEndpoint: secureUrl.optional(),
      subjectClaim: nonEmpty.optional(),
    })
    .optional(),
  tokenEndpointAuthMethod: z
    .enum(['client_secret_basic', 'client_secret_post'])
    .default('client_secret_basic'),
})

const origin = secureUrl.refine((value) => new URL(value).origin === value.replace(/\/$/, ''), {
  error: 'must be an origin (scheme, host and port only), e.g. https://mcp.example.com',
})

export const optionsSchema = z
  .strictObject({
    issuer: origin.transform((value) => value.replace(/\/$/, '')),
    resources: z.array(resourceSchema).min(1, { error: 'must name at least one MCP server' }),
    upstream: upstreamSchema,
    roles: z
      .strictObject({
        claims: z.array(claimPathSchema).optional(),
        scopes: z.record(nonEmpty, scopeList),
      })
      .optional(),
    registration: z
      .strictObject({
        mode: z.enum(['open', 'initial-access-token', 'off']).default('open'),
        initialAccessToken: secret.optional(),
        perMinute: z.number().int().positive().max(100_000).default(20),
      })
      .default({ mode: 'open', perMinute: 20 }),
    clientIdMetadataDocuments: z
      .strictObject({
        enabled: z.boolean().default(true),
        allowLoopback: z.boolean().default(false),
        allowPrivateAddresses: z.boolean().default(false),
        timeoutMs: z.number().int().min(100).max(30_000).default(2500),
        maxBytes: z
          .number()
          .int()
          .min(256)
          .max(1024 * 1024)
          .default(5120),
        fetch: z.custom<typeof fetch>((value) => typeof value === 'function').optional(),
      })
      .default({
        enabled: true,
        allowLoopback: false,
        allowPrivateAddresses: false,
        timeoutMs: 2500,
        maxBytes: 5120,
      }),
    machineClients: z
      .array(
        z.strictObject({
          clientId: z.string().regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' }),
          clientSecret: secret,
          scopes: scopeList.min(1),
          name: nonEmpty.optional(),
        }),
      )
      .default([]),
    dpop: z
      .strictObject({ enabled: z.boolean().default(false), requireNonce: z.boolean().default(false) })
      .default({ enabled: false, requireNonce: false }),
    keysFile: nonEmpty.optional(),
    keyRotation: z
      .strictObject({
        rotateAfterDays: z.number().positive().max(3650).default(90),
        overlapDays: z.number().positive().max(3650).default(7),
      })
      .default({ rotateAfterDays: 90, overlapDays: 7 }),
    adapter: z.custom<ProviderAdapterFactory>((value) => typeof value === 'function').optional(),
    accessTokenTtl: seconds.default(600),
    refreshTokenTtl: seconds.default(14 * 86_400),
    upstreamCallbackPath: z
      .string()
      .regex(/^\/[A-Za-z0-9._~/-]*$/, { error: 'must be a path such as /oauth/upstream/callback' })
      .default('/oauth/upstream/callback'),
    cookieKeys: z.array(secret).min(1).optional(),
  })
  .superRefine((options, ctx) => {
    if (options.upstream.oauth !== undefined && options.upstream.scopes.includes('openid')) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstream', 'scopes'],
        message:
          'an OAuth-only upstream (upstream.oauth) has no openid scope; name its own scopes, e.g. ["read:user"]',
      })
    }
    if (options.upstream.issuer === undefined && options.upstream.preset === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstream', 'issuer'],
        message: 'is required without upstream.preset',
      })
    }
    if (options.upstream.preset === undefined && options.roles === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['roles'],
        message:
          'give roles (upstream claims → scopes) or upstream.preset (its roles mapping): without either no user could obtain any scope',
      })
    }
    const registration = options.registration
    if (registration.mode === 'initial-access-token' && registration.initialAccessToken === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['registration', 'initialAccessToken'],
        message: "is required when mode is 'initial-access-token'",
      })
    }
    const seen = new Set<string>()
    options.resources.forEach((entry, index) => {
      if (seen.has(entry.resource))
        ctx.addIssue({ code: 'custom', path: ['resources', index, 'resource'], message: 'is listed twice' })
      seen.add(entry.resource)
    })
    const known = new Set(options.resources.flatMap((entry) => entry.scopes))
    options.machineClients.forEach((client, index) => {
      for (const scope of client.scopes) {
        if (!known.has(scope))
          ctx.addIssue({
            code: 'custom',
            path: ['machineClients', index, 'scopes'],
            message: `${scope} is not a scope of any resource`,
          })
      }
    })
  })

/** Options after validation and defaults. */
export type ResolvedOptions = z.output<typeof optionsSchema> & {
  upstream: z.output<typeof upstreamSchema> & { issuer: string }
}

/**
 * Validates `createAuthorizationServer` options and fills in defaults. Throws a TypeError naming
 * the option and what is wrong.
 */
export function resolveOptions(input: AuthorizationServerOptions): ResolvedOptions {
  const options = parseOptions(optionsSchema, input, OWNER)
  // The preset already knows its issuer: reuse it rather than ask for it twice.
  const issuer = options.upstream.issuer ?? options.upstream.preset!.description.issuers[0]!
  return { ...options, upstream: { ...options.upstream, issuer } }
}
