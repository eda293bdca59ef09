import { type BoundedResponse, boundedFetch, FetchFailure } from '@portcullis/core'
import { secureUrlProblem } from '@portcullis/core/adapter'

/** Limits of every request the doctor sends. */
export interface ProbeLimits {
  timeoutMs: number
  maxBytes: number
}

export interface ProbeRequest {
  method?: 'GET' | 'POST' | 'OPTIONS' | 'DELETE'
  headers?: Record<string, string>
  body?: string
}

/** A response whatever its status, or why there was none. */
export type ProbeResult = { ok: true; response: BoundedResponse } | { ok: false; problem: string }

/**
 * One bounded request (core's `boundedFetch`: deadline, size cap, no redirects followed, http(s)
 * only). URLs that come from documents the server returned must be https (http on loopback only),
 * so a hostile document cannot point the doctor at a plain-http internal service.
 */
export async function probe(url: string, request: ProbeRequest, limits: ProbeLimits): Promise<ProbeResult> {
  const insecure = secureUrlProblem(url)
  if (insecure !== undefined) return { ok: false, problem: `${url} ${insecure}` }
  try {
    const response = await boundedFetch(url, {
      // boundedFetch types the common methods; OPTIONS and DELETE go through fetch the same way.
      method: (request.method ?? 'GET') as 'GET',
      headers: request.headers,
      body: request.body,
      timeoutMs: limits.timeoutMs,
      maxBytes: limits.maxBytes,
      acceptStatus: () => true,
    })
    return { ok: true, response }
  } catch (error) {
    if (error instanceof FetchFailure) return { ok: false, problem: `${url}: ${error.message}` }
    return { ok: false, problem: `${url}: ${(error as Error).message}` }
  }
}

/** The body as a JSON object, or undefined. */
export function jsonObject(response: BoundedResponse): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(response.text)
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** A comma-separated header as lower-cased items. */
export function headerList(headers: Headers, name: string): string[] {
  return (headers.get(name) ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item !== '')
}
