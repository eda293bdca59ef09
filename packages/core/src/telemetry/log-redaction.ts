// Credentials kept out of pino log lines, for Fastify's logger and pino-http on Express alike.
import type { IncomingMessage } from 'node:http'

/**
 * pino `redact` settings that blank credentials wherever a request's headers end up in a log line
 * (a custom `req` serializer, `request.log.info({ headers })`, error logs with the request).
 * Fastify's default request serializer logs no headers, but any custom one (or pino-http's) might.
 *
 * @example
 * const app = Fastify({ logger: { redact: portcullisLogRedaction, serializers: { req: portcullisRequestSerializer } } })
 */
export const portcullisLogRedaction = Object.freeze({
  paths: [
    'req.headers.authorization',
    'req.headers["proxy-authorization"]',
    'req.headers.cookie',
    'request.headers.authorization',
    'request.headers["proxy-authorization"]',
    'request.headers.cookie',
    'headers.authorization',
    'headers["proxy-authorization"]',
    'headers.cookie',
    'authorization',
  ],
  censor: '[redacted]',
})

export interface SerializedRequest {
  [key: string]: unknown
  method: string | undefined
  url: string
  host: string | undefined
  remoteAddress: string | undefined
  remotePort: number | undefined
}

/**
 * A `req` log serializer: Fastify's default fields, with any `access_token` query parameter blanked.
 * OAuth 2.1 §5.1 forbids tokens in the query and Portcullis ignores them, but a misbehaving client
 * can still send one, and the URL is logged before any hook runs.
 *
 * @example
 * const app = Fastify({ logger: { serializers: { req: portcullisRequestSerializer } } })
 */
export function portcullisRequestSerializer(req: {
  method?: string
  url?: string
  raw?: IncomingMessage
  headers?: Record<string, unknown>
  host?: string
  ip?: string
  socket?: { remoteAddress?: string; remotePort?: number }
}): SerializedRequest {
  const raw = req.raw ?? (req as unknown as IncomingMessage)
  const host = req.host ?? (typeof req.headers?.host === 'string' ? req.headers.host : undefined)
  return {
    method: req.method,
    url: redactQueryTokens(req.url ?? raw.url ?? ''),
    host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  }
}

// RFC 6750 §2.3 names the query parameter `access_token`; match it case-insensitively, encoded or not.
const QUERY_TOKEN = /([?&](?:access_token|access%5Ftoken)=)[^&#]*/gi

/**
 * A URL (or path with query) with the value of every `access_token` parameter replaced.
 *
 * @example
 * redactQueryTokens('/mcp?access_token=eyJ...&x=1') // '/mcp?access_token=[redacted]&x=1'
 */
export function redactQueryTokens(url: string): string {
  return url.replace(QUERY_TOKEN, '$1[redacted]')
}
