import type { IncomingMessage } from 'node:http'
import { readBoundedBody, replayBody } from '@portcullis/provider-support'
import type { ResourceRegistry } from './resource-registry.js'

/** The OIDC scopes the provider knows; any other scope is a resource's. */
export const OIDC_SCOPES: readonly string[] = ['openid', 'offline_access', 'profile', 'email']

/**
 * Fills in an authorization request's defaults before oidc-provider reads it:
 * - no `scope`: the base scopes of the requested resources (RFC 6749 §3.3: the server uses a
 *   pre-defined default rather than failing); oidc-provider would otherwise refuse a request that
 *   grants nothing with `access_denied`;
 * - no `resource` while resource scopes are asked for (or implied by the rule above): the default
 *   resource, so a client that predates RFC 8707 still gets a token for the MCP server. A request
 *   for OIDC scopes only (a relying party signing a user in) is left alone.
 * Requests carried by `request` or `request_uri` (JAR, PAR) are left to the provider.
 */
export function withAuthorizationDefaults(params: URLSearchParams, resources: ResourceRegistry): boolean {
  if (params.has('request') || params.has('request_uri')) return false
  const scope = params.get('scope')
  const asksResourceScopes =
    scope === null || scope.split(' ').some((word) => word !== '' && !OIDC_SCOPES.includes(word))
  let changed = false
  if (params.getAll('resource').length === 0 && asksResourceScopes) {
    const fallback = resources.defaultResource()
    if (fallback === undefined) return false
    params.set('resource', fallback.resource)
    changed = true
  }
  if (scope === null) {
    const base = params.getAll('resource').flatMap((indicator) => resources.find(indicator)?.baseScopes ?? [])
    if (base.length === 0) return changed
    params.set('scope', [...new Set(base)].join(' '))
    changed = true
  }
  return changed
}

/** Query or form body of a request, rewritten with `withAuthorizationDefaults` when it lacks them. */
export async function applyAuthorizationDefaults(
  req: IncomingMessage & { url?: string },
  resources: ResourceRegistry,
): Promise<'ok' | 'too-large'> {
  const url = req.url ?? '/'
  const queryAt = url.indexOf('?')
  if (req.method === 'GET' || req.method === 'HEAD') {
    const params = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1))
    if (withAuthorizationDefaults(params, resources)) {
      req.url = `${queryAt === -1 ? url : url.slice(0, queryAt)}?${params.toString()}`
    }
    return 'ok'
  }
  if (
    req.method !== 'POST' ||
    !/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')
  ) {
    return 'ok'
  }
  const body = await readBoundedBody(req)
  if (body === undefined) return 'too-large'
  const params = new URLSearchParams(body.toString('utf8'))
  replayBody(req, withAuthorizationDefaults(params, resources) ? Buffer.from(params.toString()) : body)
  return 'ok'
}
