import type { ServerResponse } from 'node:http'

/**
 * Sends an answer of the gate exactly as given: status, headers, the body as JSON (or nothing),
 * and its `Content-Length`. Written on the raw response, not with `res.json()`, so Express adds
 * nothing of its own (no `ETag` on a 401) and both adapters send the same bytes.
 */
export function sendReply(
  res: ServerResponse,
  reply: { status: number; headers: Record<string, string>; body?: unknown },
): void {
  const json = reply.body === undefined ? '' : JSON.stringify(reply.body)
  res.statusCode = reply.status
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value)
  res.setHeader('Content-Length', String(Buffer.byteLength(json)))
  // RFC 9110 §9.3.2: Node drops the body of an answer to HEAD by itself.
  res.end(json)
}
