import { canonicalResource, protectedResourceMetadataUrl } from '@portcullis/core'
import { Checklist, show } from './check.js'
import { jsonObject, type ProbeLimits, probe } from './http.js'

/** The metadata document the rest of the checks build on. */
export interface ResourceMetadata {
  url: string
  document: Record<string, unknown>
  authorizationServers: string[]
  scopesSupported?: string[]
}

/**
 * RFC 9728 as MCP clients read it: the challenge's `resource_metadata`, else the path-inserted
 * well-known URL (§3.1), else the root one (MCP 2025-11-25 fallback); `resource` must be the MCP
 * URL (§3.3: clients refuse a document about another resource).
 */
export async function checkResourceMetadata(
  url: string,
  fromChallenge: string | undefined,
  limits: ProbeLimits,
): Promise<{ list: Checklist; metadata?: ResourceMetadata }> {
  const list = new Checklist('resource-metadata')
  const canonical = canonicalResource(url)
  const pathAware = protectedResourceMetadataUrl(canonical)
  const root = `${new URL(canonical).origin}/.well-known/oauth-protected-resource`
  const candidates = [
    ...new Set([fromChallenge, pathAware, root].filter((u): u is string => u !== undefined)),
  ]

  let found: { url: string; document: Record<string, unknown> } | undefined
  for (const candidate of candidates) {
    // The root document is only a fallback: not fetched once a better one answered.
    if (candidate === root && candidate !== pathAware && found !== undefined) break
    const result = await probe(candidate, { headers: { accept: 'application/json' } }, limits)
    const document = result.ok && result.response.status === 200 ? jsonObject(result.response) : undefined
    const seen = result.ok ? `HTTP ${result.response.status}` : result.problem
    if (candidate === fromChallenge && document === undefined) {
      list.fail(
        'metadata.challenge_url',
        `the challenge's resource_metadata ${show(candidate)} gives no JSON document (${seen})`,
        'Serve the metadata document at the URL the challenge names, or name the URL it is served at.',
      )
    }
    if (candidate === pathAware) {
      if (document !== undefined) list.pass('metadata.path_aware', `served at ${pathAware}`)
      else
        list.warn(
          'metadata.path_aware',
          `nothing at the path-inserted URL ${pathAware} (${seen})`,
          `Serve the document at ${pathAware} (RFC 9728 §3.1): clients that did not get resource_metadata look there first.`,
        )
    }
    if (document !== undefined && found === undefined) found = { url: candidate, document }
  }
  if (found === undefined) {
    list.fail(
      'metadata.found',
      `no protected-resource metadata at ${candidates.join(', ')}`,
      `Serve an RFC 9728 document at ${pathAware} naming resource and authorization_servers.`,
    )
    return { list }
  }
  if (found.url === root && root !== pathAware) {
    list.warn(
      'metadata.root_fallback',
      `only the root document ${root} answers`,
      `Serve the document at ${pathAware} too: the root document describes the origin, not ${canonical} (RFC 9728 §3.3).`,
    )
  }
  const { document } = found
  const resource = document.resource
  let sameResource = false
  try {
    sameResource = typeof resource === 'string' && canonicalResource(resource) === canonical
  } catch {
    sameResource = false
  }
  if (sameResource) {
    list.pass('metadata.resource', `resource is ${show(resource)}, the MCP URL`)
  } else {
    list.fail(
      'metadata.resource',
      `resource is ${show(resource)}, but the MCP URL is ${show(canonical)}`,
      `Set resource to ${show(canonical)} exactly: clients refuse a document about another resource (RFC 9728 §3.3), and tokens are issued for this value (RFC 8707).`,
    )
  }
  const servers = document.authorization_servers
  const authorizationServers =
    Array.isArray(servers) && servers.every((s) => typeof s === 'string') ? (servers as string[]) : []
  if (authorizationServers.length === 0) {
    list.fail(
      'metadata.authorization_servers',
      `authorization_servers is ${show(servers)}`,
      'List the issuer identifier of at least one authorization server (MCP authorization requires it).',
    )
  } else {
    list.pass('metadata.authorization_servers', `authorization servers: ${authorizationServers.join(', ')}`)
  }
  const scopes = document.scopes_supported
  const scopesSupported =
    Array.isArray(scopes) && scopes.every((s) => typeof s === 'string') ? (scopes as string[]) : undefined
  if (scopesSupported === undefined) {
    list.warn(
      'metadata.scopes_supported',
      'scopes_supported is missing',
      'List the scopes this server uses: clients ask for them when the challenge names none (MCP 2025-11-25).',
    )
  } else {
    list.pass('metadata.scopes_supported', `scopes_supported: ${scopesSupported.join(' ') || '(empty)'}`)
  }
  return {
    list,
    metadata: {
      url: found.url,
      document,
      authorizationServers,
      ...(scopesSupported === undefined ? {} : { scopesSupported }),
    },
  }
}
