import type { IncomingMessage } from 'node:http'
import type { ResolvedOptions } from './options.js'

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
