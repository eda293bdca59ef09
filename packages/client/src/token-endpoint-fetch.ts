import { boundedFetch, FetchFailure } from '@portcullis/core'
import type { CustomFetch } from 'openid-client'
import { TokenRequestError } from './errors.js'

export interface TokenEndpointLimits {
  /** Whole-exchange deadline for one request to the authorization server, in ms. */
  timeoutMs: number
  /** Largest answer read, in bytes. */
  maxBytes: number
}

/**
 * The `fetch` openid-client uses for discovery and token requests: core's bounded fetch (the whole
 * exchange within `timeoutMs`, the body read up to `maxBytes`, no redirects, http(s) only), its
 * failures typed as TokenRequestError. An authorization server that is down, slow or sends an
 * endless body costs a bounded wait, never a hang. Every status comes back: openid-client reads
 * the OAuth error of a 400 or 401.
 */
export function boundedTokenFetch(limits: TokenEndpointLimits, issuer: string): CustomFetch {
  return async (url, options) => {
    const method = options.method === 'GET' ? 'GET' : 'POST'
    const request = () =>
      boundedFetch(url, {
        method,
        headers: options.headers,
        ...(options.body === undefined || options.body === null ? {} : { body: String(options.body) }),
        timeoutMs: limits.timeoutMs,
        maxBytes: limits.maxBytes,
        acceptStatus: () => true,
      })
    try {
      const answer = await request().catch((cause: unknown) => {
        // A kept-alive connection the server closed meanwhile fails at once: a GET (metadata) is
        // safe to send again; a token request is not (a rotated refresh token may be spent).
        if (method !== 'GET' || !isConnectionReset(cause)) throw cause
        return request()
      })
      // Rebuilt from the text read, so openid-client parses a body already bounded.
      return new Response(answer.text, { status: answer.status, headers: answer.headers })
    } catch (cause) {
      if (!(cause instanceof FetchFailure)) throw cause
      const where = new URL(url).origin + new URL(url).pathname
      throw new TokenRequestError(
        cause.kind === 'http_status' ? 'http_status' : cause.kind,
        `${where}: ${cause.message}`,
        {
          issuer,
          status: cause.status,
          cause,
        },
      )
    }
  }
}

function isConnectionReset(cause: unknown): boolean {
  const code = (cause as { cause?: { cause?: { code?: unknown } } })?.cause?.cause?.code
  return (
    cause instanceof FetchFailure &&
    cause.kind === 'network' &&
    (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE')
  )
}
