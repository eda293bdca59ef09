import type { IncomingMessage } from 'node:http'
import { readBody, replayBody } from './request-body.js'

/**
 * Removes `scope` from a dynamic registration request before oidc-provider sees it. MCP clients
 * register the resource's scopes (`notes:read`), which oidc-provider accepts only as OIDC scopes
 * and would also turn into an allow-list that blocks a later step-up to more scopes. RFC 7591 §2
 * lets the server ignore a requested `scope`; the client then asks per authorization request.
 *
 * Returns false when the body is larger than the provider would accept (the caller answers 400).
 */
export async function dropRegisteredScope(req: IncomingMessage): Promise<boolean> {
  if (req.method !== 'POST' || !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return true
  let body = await readBody(req)
  if (body === undefined) return false
  try {
    const json: unknown = JSON.parse(body.toString('utf8'))
    if (typeof json === 'object' && json !== null && !Array.isArray(json) && 'scope' in json) {
      delete (json as { scope?: unknown }).scope
      body = Buffer.from(JSON.stringify(json))
    }
  } catch {
    // Not JSON: the provider answers with its own invalid_request.
  }
  replayBody(req, body)
  return true
}
