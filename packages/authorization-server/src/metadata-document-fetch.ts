import { isLoopbackHost } from '@portcullis/core/adapter'
import type { ResolvedOptions } from './options.js'

type FetchOptions = RequestInit & { dispatcher?: unknown }

/**
 * The `fetch` oidc-provider uses for client ID metadata documents (and client `jwks_uri`s). It
 * already refuses redirects, bounds the body and connects through a dispatcher that drops
 * connections to special-use addresses (loopback, private, link-local, ...). Here: the time limit
 * is the configured one, and that dispatcher is left out only where the deployment allowed it —
 * loopback hosts named literally when `allowLoopback` (development), anything when
 * `allowPrivateAddresses`.
 */
export function metadataDocumentFetch(
  options: ResolvedOptions['clientIdMetadataDocuments'] & { fetch?: typeof fetch },
): (url: URL | string | Request, init?: FetchOptions) => Promise<Response> {
  const base = options.fetch ?? globalThis.fetch
  return (url, init) => {
    const target = new URL(url instanceof Request ? url.url : url)
    const request: FetchOptions = { ...init, signal: AbortSignal.timeout(options.timeoutMs) }
    if (options.allowPrivateAddresses || (options.allowLoopback && isLoopbackHost(target.hostname))) {
      delete request.dispatcher
    }
    return base(target, request)
  }
}
