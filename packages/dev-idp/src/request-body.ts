import type { IncomingMessage } from 'node:http'

/** oidc-provider's own body limit (56 KiB): a larger request fails there anyway. */
export const MAX_BODY_BYTES = 56 * 1024

/** The whole request body, or undefined when it exceeds `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) return undefined
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
