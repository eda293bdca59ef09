import type { CustomFetch } from 'openid-client'
import { TokenRequestError } from './errors.js'

export interface TokenEndpointLimits {
  /** Whole-exchange deadline for one request to the authorization server, in ms. */
  timeoutMs: number
  /** Largest answer read, in bytes. */
  maxBytes: number
}

/**
 * The `fetch` openid-client uses for discovery and token requests: the whole exchange (headers and
 * body) within `timeoutMs`, the body read up to `maxBytes`, failures typed. An authorization server
 * that is down, slow or sends an endless body costs a bounded wait, never a hang.
 */
export function boundedTokenFetch(
  limits: TokenEndpointLimits,
  issuer: string,
  base: typeof fetch = fetch,
): CustomFetch {
  return async (url, options) => {
    const deadline = AbortSignal.timeout(limits.timeoutMs)
    const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal])
    const where = new URL(url).origin + new URL(url).pathname
    let response: Response
    try {
      response = await base(url, { ...options, signal } as RequestInit).catch((cause: unknown) => {
        // A kept-alive connection the server closed meanwhile fails at once: a GET (metadata) is
        // safe to send again; a token request is not (a rotated refresh token may be spent).
        if (options.method !== 'GET' || signal.aborted || !isConnectionReset(cause)) throw cause
        return base(url, { ...options, signal } as RequestInit)
      })
    } catch (cause) {
      // Ours or openid-client's own deadline: either way the server did not answer in time.
      if (signal.aborted) {
        throw new TokenRequestError('timeout', `${where} did not answer within ${limits.timeoutMs} ms`, {
          issuer,
          cause,
        })
      }
      throw new TokenRequestError('network', `${where} could not be reached: ${describe(cause)}`, {
        issuer,
        cause,
      })
    }
    const body = await readCapped(response, limits, where, issuer, deadline)
    // Rebuilt from the bytes read, so openid-client parses a body already bounded.
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}

async function readCapped(
  response: Response,
  limits: TokenEndpointLimits,
  where: string,
  issuer: string,
  deadline: AbortSignal,
): Promise<Uint8Array | null> {
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw tooLarge(where, limits, issuer, response.status)
  }
  if (response.body === null) return null
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > limits.maxBytes) {
        await reader.cancel().catch(() => {})
        throw tooLarge(where, limits, issuer, response.status)
      }
      chunks.push(value)
    }
  } catch (cause) {
    if (cause instanceof TokenRequestError) throw cause
    const kind = deadline.aborted ? 'timeout' : 'network'
    throw new TokenRequestError(kind, `${where}: the answer's body was not received in time or in full`, {
      issuer,
      status: response.status,
      cause,
    })
  }
  return Buffer.concat(chunks)
}

function tooLarge(
  where: string,
  limits: TokenEndpointLimits,
  issuer: string,
  status: number,
): TokenRequestError {
  return new TokenRequestError('too_large', `${where} answered more than ${limits.maxBytes} bytes`, {
    issuer,
    status,
  })
}

function isConnectionReset(cause: unknown): boolean {
  const code = (cause as { cause?: { code?: unknown } })?.cause?.code
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE'
}

function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause)
  const inner = (cause as { cause?: { code?: unknown } }).cause
  return typeof inner?.code === 'string' ? `${cause.message} (${inner.code})` : cause.message
}
