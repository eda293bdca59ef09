import type { IncomingMessage } from 'node:http'
import { readBoundedBody } from './bounded-body.js'
import type { ResolvedOptions } from './options.js'

/** oidc-provider's own body limit (56 KiB): a larger registration request fails there anyway. */
const MAX_REGISTRATION_BYTES = 56 * 1024

/**
 * An authorization request without `scope` asks for the resource's default scopes (RFC 6749 §3.3
 * lets the server pick; consent still cuts them to what the user's roles allow). Changes `req.url`
 * in place; leaves requests with a `scope`, or for an unknown resource, alone.
 */
export function prepareAuthorizationRequest(req: IncomingMessage, options: ResolvedOptions): void {
  const url = new URL(req.url ?? '/', 'http://broker.invalid')
  if (url.searchParams.has('scope')) return
  const requested = url.searchParams.getAll('resource')
  const entries =
    requested.length === 0
      ? options.resources.length === 1
        ? options.resources
        : []
      : options.resources.filter((entry) => requested.includes(entry.resource))
  const scopes = new Set(entries.flatMap((entry) => entry.defaultScopes ?? entry.scopes))
  if (scopes.size === 0) return
  url.searchParams.set('scope', [...scopes].join(' '))
  req.url = `${url.pathname}${url.search}`
}

/**
 * Removes `scope` from a dynamic registration request before oidc-provider sees it: MCP clients
 * register the resource's scopes, which oidc-provider would take as OIDC scopes and as an allow-list
 * blocking a later step-up. RFC 7591 §2 lets the server ignore a requested `scope`; what a client
 * gets is decided per authorization request. Returns false when the body is too large.
 */
export async function prepareRegistrationRequest(req: IncomingMessage): Promise<boolean> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return true
  const read = await readBoundedBody(req, MAX_REGISTRATION_BYTES)
  if (read === undefined) return false
  let body = read
  try {
    const json: unknown = JSON.parse(body.toString('utf8'))
    if (typeof json === 'object' && json !== null && !Array.isArray(json) && 'scope' in json) {
      delete (json as { scope?: unknown }).scope
      body = Buffer.from(JSON.stringify(json))
    }
  } catch {
    // Not JSON: the provider answers with its own invalid_request.
  }
  // Make the consumed request readable once more, the way oidc-provider reads bodies.
  Object.defineProperty(req, 'readable', { value: true, configurable: true })
  Object.defineProperty(req, 'readableEncoding', { value: null, configurable: true })
  Object.defineProperty(req, 'iterator', {
    configurable: true,
    value: async function* replay() {
      yield body
    },
  })
  req.headers['content-length'] = String(body.length)
  delete req.headers['transfer-encoding']
  return true
}
