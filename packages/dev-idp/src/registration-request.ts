import type { IncomingMessage } from 'node:http'

/** oidc-provider's own body limit (56 KiB): a larger registration request fails there anyway. */
const MAX_REGISTRATION_BYTES = 56 * 1024

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
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_REGISTRATION_BYTES) return false
    chunks.push(chunk as Buffer)
  }
  let body = Buffer.concat(chunks)
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

/**
 * Makes a consumed request readable once more with `body`, the way oidc-provider reads bodies
 * (`req.readable`, `req.iterator()`, `Content-Length`).
 */
function replayBody(req: IncomingMessage, body: Buffer): void {
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
}
