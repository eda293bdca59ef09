// Reading and rewriting a request body before oidc-provider reads it.

import type { IncomingMessage } from 'node:http'

/** oidc-provider's own body limit (56 KiB): a larger request fails there anyway. */
export const MAX_PROVIDER_BODY_BYTES = 56 * 1024

/** The request body, or undefined once it grows past `maxBytes` (reading stops there). */
export async function readBoundedBody(
  req: IncomingMessage,
  maxBytes = MAX_PROVIDER_BODY_BYTES,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * Makes a consumed request readable once more with `body`, the way oidc-provider reads bodies
 * (`req.readable`, `req.iterator()`, `Content-Length`).
 */
export function replayBody(req: IncomingMessage, body: Buffer): void {
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

/**
 * Removes `scope` from a dynamic registration request before oidc-provider sees it: MCP clients
 * register the resource's scopes, which oidc-provider would take as OIDC scopes and as an allow-list
 * blocking a later step-up. RFC 7591 §2 lets the server ignore a requested `scope`; what a client
 * gets is decided per authorization request.
 *
 * Returns false when the body is larger than the provider would accept (the caller answers).
 */
export async function dropRegisteredScope(req: IncomingMessage): Promise<boolean> {
  if (req.method !== 'POST' || !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return true
  let body = await readBoundedBody(req)
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

/** The largest interaction form (sign-in, consent) read: a few fields, never kilobytes. */
export const MAX_FORM_BYTES = 8 * 1024

/** An urlencoded form body (a page's POST), or undefined once it grows past `maxBytes`. */
export async function readForm(
  req: IncomingMessage,
  maxBytes = MAX_FORM_BYTES,
): Promise<URLSearchParams | undefined> {
  const body = await readBoundedBody(req, maxBytes)
  return body === undefined ? undefined : new URLSearchParams(body.toString('utf8'))
}
