import { canonicalResource } from '@portcullis/core'
import { secureUrlProblem } from '@portcullis/core/adapter'
import * as oidc from 'openid-client'
import { z } from 'zod'
import type { AccessToken, GrantIdentity } from './access-token.js'
import { splitScopes } from './access-token.js'
import { type AuthorizationServer, authorizationServer } from './authorization-server.js'
import { TokenRequestError } from './errors.js'

/** How the client proves itself at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2). */
export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'none'

/** A private key for `private_key_jwt`: a WebCrypto key, with the `kid` its public key is registered under. */
export type ClientPrivateKey = oidc.CryptoKey | { key: oidc.CryptoKey; kid?: string }

/** Options every grant of this package shares. */
export interface GrantOptions {
  /** Issuer identifier; the token endpoint is discovered (RFC 8414, else OpenID Connect Discovery). */
  issuer?: string
  /** The token endpoint, instead of `issuer` (no discovery). */
  tokenEndpoint?: string
  clientId: string
  /** For `client_secret_basic` (the default with a secret) or `client_secret_post`. */
  clientSecret?: string
  /** For `private_key_jwt` (RFC 7523): the client signs an assertion instead of sending a secret. */
  privateKey?: ClientPrivateKey
  /** Default: `client_secret_basic` with a secret, `private_key_jwt` with a key, `none` otherwise. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod
  /** The RFC 8707 resource (the MCP server's URL), sent on every token and refresh request. */
  resource?: string
  /** Deadline of one request to the authorization server, in ms. Default 10,000. */
  timeoutMs?: number
  /** Largest answer read from the authorization server, in bytes. Default 64 KiB. */
  maxResponseBytes?: number
}

const secureUrl = (what: string) =>
  z.string().superRefine((value, ctx) => {
    const problem = secureUrlProblem(value)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` })
  })

// Node ≥ 20 has CryptoKey as a global (WebCrypto); the lib types here do not declare it.
const CryptoKeyClass = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey
const isCryptoKey = (v: unknown) => CryptoKeyClass !== undefined && v instanceof CryptoKeyClass
const nonEmpty = z.string().min(1)

export const grantOptionsShape = {
  issuer: secureUrl('issuer').optional(),
  tokenEndpoint: secureUrl('tokenEndpoint').optional(),
  clientId: nonEmpty,
  clientSecret: nonEmpty.optional(),
  privateKey: z
    .custom<ClientPrivateKey>(
      (v) =>
        isCryptoKey(v) || (typeof v === 'object' && v !== null && isCryptoKey((v as { key?: unknown }).key)),
      'must be a CryptoKey or { key: CryptoKey, kid } (import a PEM with crypto.subtle.importKey or jose importPKCS8)',
    )
    .optional(),
  tokenEndpointAuthMethod: z
    .enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'])
    .optional(),
  resource: z
    .string()
    .transform((value, ctx) => {
      try {
        return canonicalResource(value)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
        return z.NEVER
      }
    })
    .optional(),
  timeoutMs: z.number().int().positive().max(120_000).default(10_000),
  maxResponseBytes: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
}

type ParsedGrantOptions = z.output<z.ZodObject<typeof grantOptionsShape>>

/** Cross-field rules: one of issuer/tokenEndpoint, a credential that fits the method. */
export function refineGrantOptions(
  options: ParsedGrantOptions,
  ctx: z.RefinementCtx,
  needsCredential: boolean,
): void {
  if ((options.issuer === undefined) === (options.tokenEndpoint === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'give exactly one of "issuer" (discovery) or "tokenEndpoint"' })
  }
  const method = authMethod(options)
  if (method.startsWith('client_secret') && options.clientSecret === undefined) {
    ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `is required for ${method}` })
  }
  if (method === 'private_key_jwt' && options.privateKey === undefined) {
    ctx.addIssue({ code: 'custom', path: ['privateKey'], message: 'is required for private_key_jwt' })
  }
  if (options.clientSecret !== undefined && options.privateKey !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'give "clientSecret" or "privateKey", not both' })
  }
  if (needsCredential && method === 'none') {
    ctx.addIssue({
      code: 'custom',
      message: 'a confidential client is required: give "clientSecret" or "privateKey"',
    })
  }
}

function authMethod(options: ParsedGrantOptions): TokenEndpointAuthMethod {
  if (options.tokenEndpointAuthMethod !== undefined) return options.tokenEndpointAuthMethod
  if (options.privateKey !== undefined) return 'private_key_jwt'
  return options.clientSecret === undefined ? 'none' : 'client_secret_basic'
}

function clientAuth(options: ParsedGrantOptions): oidc.ClientAuth {
  switch (authMethod(options)) {
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(options.clientSecret)
    case 'client_secret_post':
      return oidc.ClientSecretPost(options.clientSecret)
    case 'private_key_jwt':
      return oidc.PrivateKeyJwt(options.privateKey as oidc.CryptoKey | oidc.PrivateKey)
    default:
      return oidc.None()
  }
}

/** The authorization server, its grant identity and the `resource` parameter, from parsed options. */
export function grantTarget(options: ParsedGrantOptions): {
  server: AuthorizationServer
  grant: GrantIdentity
  resourceParameter: Record<string, string>
} {
  const server = authorizationServer({
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.tokenEndpoint === undefined ? {} : { tokenEndpoint: options.tokenEndpoint }),
    clientId: options.clientId,
    clientAuth: clientAuth(options),
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxResponseBytes,
  })
  return {
    server,
    grant: {
      issuer: server.issuer,
      clientId: options.clientId,
      ...(options.resource === undefined ? {} : { resource: options.resource }),
    },
    // RFC 8707 §2.1 (token request) and §2.2 (refresh): the resource on every request.
    resourceParameter: options.resource === undefined ? {} : { resource: options.resource },
  }
}

/**
 * An AccessToken from a token response (RFC 6749 §5.1). Scopes are as granted: the response's
 * `scope`, or the requested ones when it has none (§5.1: omitted means "as requested").
 */
export function accessTokenFrom(
  response: oidc.TokenEndpointResponse,
  requested: readonly string[],
  issuer: string,
): AccessToken {
  const type = response.token_type?.toLowerCase()
  if (type !== 'bearer') {
    throw new TokenRequestError(
      'invalid_token_response',
      `${issuer} issued a token of type ${JSON.stringify(response.token_type)}; only Bearer tokens are supported`,
      { issuer },
    )
  }
  const expiresIn = response.expires_in
  return {
    token: response.access_token,
    tokenType: 'Bearer',
    ...(typeof expiresIn === 'number' && expiresIn > 0
      ? { expiresAt: Math.floor(Date.now() / 1000) + expiresIn }
      : {}),
    scopes: typeof response.scope === 'string' ? splitScopes(response.scope) : [...requested],
  }
}
