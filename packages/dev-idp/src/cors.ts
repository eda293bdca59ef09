import type { IncomingMessage, ServerResponse } from 'node:http'
import { isLoopbackHost } from '@portcullis/core/adapter'

/**
 * Whether a browser at `origin` may call the IdP's endpoints: any loopback origin (a local MCP
 * client such as MCP Inspector, whatever its port) or one listed in `extraOrigins`.
 *
 * @example
 * isAllowedOrigin('http://localhost:6274', []) // true
 */
export function isAllowedOrigin(origin: string | undefined, extraOrigins: readonly string[]): boolean {
  if (origin === undefined || origin === 'null' || !URL.canParse(origin)) return false
  const url = new URL(origin)
  if (url.origin !== origin) return false
  if (extraOrigins.includes(origin)) return true
  return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname)
}

const PREFLIGHT_MAX_AGE = '3600'

/**
 * CORS for the registration endpoint, which oidc-provider leaves without any: browser clients
 * register themselves (RFC 7591) before anything else. Returns true when it answered the request
 * (a preflight); otherwise it only added headers and the request goes on to the provider.
 */
export function registrationCors(
  req: IncomingMessage,
  res: ServerResponse,
  extraOrigins: readonly string[],
): boolean {
  const origin = req.headers.origin
  res.setHeader('Vary', 'Origin')
  if (origin === undefined) return false
  const allowed = isAllowedOrigin(origin, extraOrigins)
  const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined
  if (!preflight) {
    if (allowed) res.setHeader('Access-Control-Allow-Origin', origin)
    return false
  }
  if (!allowed) {
    res.writeHead(403, { 'Content-Type': 'application/json' })
    res.end(
      JSON.stringify({
        error: 'invalid_request',
        error_description: `origin ${origin} is not allowed: the dev IdP allows loopback origins and the corsOrigins option`,
      }),
    )
    return true
  }
  const requested = req.headers['access-control-request-headers']
  res.writeHead(204, {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': 'GET,POST,PUT,DELETE',
    'Access-Control-Allow-Headers': requested ?? 'authorization,content-type',
    'Access-Control-Max-Age': PREFLIGHT_MAX_AGE,
  })
  res.end()
  return true
}
