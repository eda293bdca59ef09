import { z } from 'zod'
import { parseOptions } from '../support/options.js'
import { canonicalResource, secureUrlProblem } from './resource.js'
import { OFFLINE_ACCESS, scopeTokenSchema } from './scopes.js'

/** The RFC 9728 §2 document a protected resource serves, as Portcullis emits it. */
export interface ProtectedResourceMetadata {
  resource: string
  authorization_servers: string[]
  scopes_supported?: string[]
  bearer_methods_supported: ['header']
  resource_name?: string
  resource_documentation?: string
  /** RFC 9728 §2 / RFC 9449: the JWS algorithms accepted for DPoP proofs. */
  dpop_signing_alg_values_supported?: string[]
  /** RFC 9728 §2 / RFC 9449: whether only DPoP-bound tokens are accepted. */
  dpop_bound_access_tokens_required?: boolean
}

export interface ProtectedResourceMetadataInput {
  /** The resource URL; emitted in canonical form (see `canonicalResource`). */
  resource: string | URL
  /** Issuer identifiers of the authorization servers, at least one, each exactly as its metadata spells `issuer`. */
  authorizationServers: readonly string[]
  /** The minimal scopes for basic use (MCP §Scope Selection Strategy). `offline_access` is dropped. */
  scopesSupported?: readonly string[]
  /** `resource_name`: a human-readable name (RFC 9728 §2). */
  resourceName?: string
  /** `resource_documentation`: a URL of human-readable documentation (RFC 9728 §2). */
  resourceDocumentation?: string
  /** `dpop_signing_alg_values_supported` (RFC 9728 §2): set when the resource accepts DPoP proofs. */
  dpopSigningAlgValuesSupported?: readonly string[]
  /** `dpop_bound_access_tokens_required` (RFC 9728 §2), emitted when given (false is its default). */
  dpopBoundAccessTokensRequired?: boolean
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource'

/** Why `value` is not acceptable as an https URL (http only on loopback), or undefined when it is. */
function httpsUrlProblem(value: string): string | undefined {
  const insecure = secureUrlProblem(value)
  if (insecure !== undefined) return insecure
  const url = new URL(value)
  if (url.username !== '' || url.password !== '') return 'must not contain credentials (userinfo)'
  if (url.href.includes('#')) return 'must not contain a fragment'
  return undefined
}

const httpsUrl = z.string().superRefine((value, ctx) => {
  const problem = httpsUrlProblem(value)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} ${problem}` })
})

// RFC 8414 §2: an issuer identifier is an https URL with no query or fragment.
const issuerUrl = httpsUrl.refine((value) => !value.includes('?'), {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not an issuer identifier: it must not contain a query (RFC 8414 §2)`,
})

const inputSchema = z.strictObject({
  resource: z.union([z.string(), z.instanceof(URL)]).superRefine((value, ctx) => {
    try {
      canonicalResource(value)
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
    }
  }),
  // MCP (authorization server discovery): the document MUST name at least one authorization server.
  authorizationServers: z
    .array(issuerUrl)
    .min(1, 'at least one authorization server is required (MCP authorization server discovery)')
    .readonly(),
  scopesSupported: z.array(scopeTokenSchema).readonly().optional(),
  resourceName: z.string().optional(),
  resourceDocumentation: httpsUrl.optional(),
  dpopSigningAlgValuesSupported: z
    .array(z.string().regex(/^[A-Za-z0-9+_.-]+$/))
    .min(1)
    .readonly()
    .optional(),
  dpopBoundAccessTokensRequired: z.boolean().optional(),
})

/**
 * The protected resource metadata document (RFC 9728 §2) of a resource: `resource` in canonical
 * form, `authorization_servers` byte for byte as given (clients compare issuers exactly, MCP
 * 2026-07-28), `scopes_supported` deduplicated and without `offline_access` (SEP-2207),
 * `bearer_methods_supported: ["header"]` (MCP: tokens only in the Authorization header).
 * Empty values are omitted (RFC 9728 §3.2). Invalid input throws a TypeError naming the option.
 *
 * @example
 * protectedResourceMetadata({
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://auth.example.com'],
 *   scopesSupported: ['mcp:basic'],
 * })
 * // { resource: 'https://mcp.example.com/mcp', authorization_servers: ['https://auth.example.com'],
 * //   scopes_supported: ['mcp:basic'], bearer_methods_supported: ['header'] }
 */
export function protectedResourceMetadata(input: ProtectedResourceMetadataInput): ProtectedResourceMetadata {
  const options = parseOptions(inputSchema, input, 'protectedResourceMetadata')
  const scopes = [...new Set(options.scopesSupported ?? [])].filter((scope) => scope !== OFFLINE_ACCESS)
  // Members in RFC 9728 §2 order; zero values omitted (RFC 9728 §3.2).
  return {
    resource: canonicalResource(options.resource),
    authorization_servers: [...new Set(options.authorizationServers)],
    ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    bearer_methods_supported: ['header'],
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
    ...(options.resourceDocumentation ? { resource_documentation: options.resourceDocumentation } : {}),
    ...(options.dpopSigningAlgValuesSupported
      ? { dpop_signing_alg_values_supported: [...options.dpopSigningAlgValuesSupported] }
      : {}),
    ...(options.dpopBoundAccessTokensRequired === undefined
      ? {}
      : { dpop_bound_access_tokens_required: options.dpopBoundAccessTokensRequired }),
  }
}

/**
 * The URL of a resource's metadata document: the well-known segment inserted between the host
 * and the path, the query kept (RFC 9728 §3.1). This is the `resource_metadata` of challenges.
 * Throws a TypeError for a resource `canonicalResource` rejects.
 *
 * @example
 * protectedResourceMetadataUrl('https://mcp.example.com/mcp')
 * // 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'
 */
export function protectedResourceMetadataUrl(resource: string | URL): string {
  const url = new URL(canonicalResource(resource))
  return `${url.protocol}//${url.host}${metadataPath(url)}${url.search}`
}

/**
 * The URL paths a server serves its metadata document at: the path-inserted well-known path
 * (RFC 9728 §3.1), which for a resource with no path is the root
 * `/.well-known/oauth-protected-resource`. A resource with a path does not get the root document:
 * a root document must name the origin as its `resource` (RFC 9728 §3.3), which would not match.
 * Paths carry no query (routers match on the path).
 *
 * @example
 * protectedResourceMetadataPaths('https://mcp.example.com/mcp') // ['/.well-known/oauth-protected-resource/mcp']
 */
export function protectedResourceMetadataPaths(resource: string | URL): string[] {
  return [metadataPath(new URL(canonicalResource(resource)))]
}

// RFC 9728 §3.1: remove any terminating "/" after the host, then insert the well-known segment.
const metadataPath = (url: URL) => (url.pathname === '/' ? WELL_KNOWN : `${WELL_KNOWN}${url.pathname}`)
