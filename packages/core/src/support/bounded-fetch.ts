/**
 * Every outbound call Portcullis makes (JWKS, discovery, introspection) goes through here, bounded
 * in time and in size, and fails with a typed reason rather than an untyped network error.
 */
export type FetchFailureKind = 'timeout' | 'network' | 'too_large' | 'http_status' | 'malformed'

export class FetchFailure extends Error {
  override readonly name = 'FetchFailure'
  constructor(
    readonly kind: FetchFailureKind,
    readonly url: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export interface BoundedFetchOptions {
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** Whole-exchange deadline (connect, headers and body). Default 5000 ms. */
  timeoutMs?: number
  /** Largest body accepted. Default 256 KiB. */
  maxBytes?: number
  /** Statuses that return a response instead of failing. Default 200–299. */
  acceptStatus?: (status: number) => boolean
}

export interface BoundedResponse {
  status: number
  headers: Headers
  text: string
}

export interface JsonResponse extends BoundedResponse {
  json: unknown
}

const DEFAULT_TIMEOUT_MS = 5000
const DEFAULT_MAX_BYTES = 256 * 1024

export async function boundedFetch(url: string, options: BoundedFetchOptions = {}): Promise<BoundedResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  const accept = options.acceptStatus ?? ((s: number) => s >= 200 && s < 300)
  // Only http(s): fetch also speaks data: and blob:, which would let a hostile metadata document
  // hand us a "remote" answer without any network call.
  let protocol: string
  try {
    protocol = new URL(url).protocol
  } catch {
    throw new FetchFailure('network', url, 'not a valid URL')
  }
  if (protocol !== 'https:' && protocol !== 'http:') {
    throw new FetchFailure('network', url, `unsupported URL scheme ${protocol} (only http and https)`)
  }
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  timer.unref?.()
  try {
    let res: Response
    try {
      res = await fetch(url, {
        method: options.method ?? 'GET',
        headers: options.headers,
        body: options.body,
        signal: controller.signal,
        redirect: 'manual',
      })
    } catch (cause) {
      if (controller.signal.aborted)
        throw new FetchFailure('timeout', url, `no answer within ${timeoutMs} ms`)
      throw new FetchFailure('network', url, `network error: ${describe(cause)}`, undefined, { cause })
    }
    // An unwanted status is reported as such, whatever its body: no point reading it.
    if (!accept(res.status)) {
      await res.body?.cancel().catch(() => {})
      throw new FetchFailure('http_status', url, `answered HTTP ${res.status}`, res.status)
    }
    const declared = Number(res.headers.get('content-length'))
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body?.cancel().catch(() => {})
      throw new FetchFailure(
        'too_large',
        url,
        `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`,
        res.status,
      )
    }
    const text = await readCapped(res, maxBytes, url, controller)
    return { status: res.status, headers: res.headers, text }
  } finally {
    clearTimeout(timer)
  }
}

/** A bounded fetch whose body must be a JSON object. */
export async function fetchJson(url: string, options: BoundedFetchOptions = {}): Promise<JsonResponse> {
  const headers = { ...options.headers }
  // Header names are case-insensitive: only add ours when the caller set none.
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'accept'))
    headers.accept = 'application/json'
  const res = await boundedFetch(url, { ...options, headers })
  let json: unknown
  try {
    json = JSON.parse(res.text)
  } catch {
    throw new FetchFailure('malformed', url, 'body is not JSON', res.status)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new FetchFailure('malformed', url, 'body is not a JSON object', res.status)
  }
  return { ...res, json }
}

async function readCapped(
  res: Response,
  maxBytes: number,
  url: string,
  controller: AbortController,
): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel().catch(() => {})
        throw new FetchFailure('too_large', url, `body exceeds the ${maxBytes}-byte limit`, res.status)
      }
      chunks.push(value)
    }
  } catch (cause) {
    if (cause instanceof FetchFailure) throw cause
    if (controller.signal.aborted)
      throw new FetchFailure('timeout', url, 'body not received in time', res.status)
    throw new FetchFailure('network', url, `body read failed: ${describe(cause)}`, res.status, { cause })
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks))
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause
    const code =
      inner && typeof inner === 'object' && 'code' in inner ? String((inner as { code: unknown }).code) : ''
    return code ? `${cause.message} (${code})` : cause.message
  }
  return String(cause)
}
