// The gate's answers on Node's own response (`ServerResponse`), for an adapter whose handlers get
// it (Express, Connect, `node:http`; Fastify once it hands a reply over): written on the raw
// response, the caller set as `req.auth` where the MCP SDK transports read it.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Answering } from './adapter-reports.js'
import {
  answersPreflight,
  applyExposeHeadersAtSend,
  type CorsPolicy,
  type HeaderValue,
} from './cors-policy.js'
import type { Gate } from './gate-types.js'
import { markVerified, setCallerOn } from './request-state.js'
import { FALLBACK_METHODS } from './route-methods.js'

/**
 * The MCP SDK's `AuthInfo`, member for member: what its transports read from `req.auth` on a Node
 * request. SDK 1.x declares `req.auth` with it on Express's global `Request` (merged declarations
 * must agree exactly) and 2.x's Express `Request` extends it, so an adapter that declares `req.auth`
 * with this type compiles beside either SDK line.
 */
export interface SdkAuthInfo {
  token: string
  clientId: string
  scopes: string[]
  expiresAt?: number
  resource?: URL
  extra?: Record<string, unknown>
}

/** A Node request that may carry the verified caller, as the MCP SDK transports read it. */
export type NodeRequest = IncomingMessage & { auth?: SdkAuthInfo | undefined }

/** How the gate's decisions are written on a Node request and response (`req.auth`, the raw response). */
export const nodeAnswering: Answering<NodeRequest, ServerResponse> = {
  get: (res, name) => res.getHeader(name),
  set: (res, name, value) => void res.setHeader(name, value),
  setCaller: (req, auth, gate) => {
    // The state first: a request whose prototype has `callerAccessor` reads `req.auth` from it.
    markVerified(req, gate, auth)
    setCallerOn(req, auth)
  },
  send: (res, reply) => sendReply(res, reply),
}

/**
 * Sends an answer of the gate exactly as given: status, headers, the body as JSON (or nothing),
 * and its `Content-Length`. Written on the raw response, not with a framework's helpers (Express's
 * `res.json()`), so the framework adds nothing of its own (no `ETag` on a 401) and every adapter
 * sends the same bytes.
 */
export function sendReply(
  res: ServerResponse,
  reply: { status: number; headers: Readonly<Record<string, string>>; body?: unknown },
): void {
  const json = reply.body === undefined ? '' : JSON.stringify(reply.body)
  res.statusCode = reply.status
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value)
  res.setHeader('Content-Length', String(Buffer.byteLength(json)))
  // RFC 9110 §9.3.2: Node drops the body of an answer to HEAD by itself.
  res.end(json)
}

/** Serves the gate's RFC 9728 metadata document (or its 405 / preflight) for `method`. */
export function sendMetadata(gate: Gate, method: string, res: ServerResponse): void {
  // RFC 9728 §3.1: clients read the document before they have a token; it is never gated. A
  // credentialed CORS answer (another layer's) cannot use `*`, and the document needs no credentials.
  res.removeHeader('Access-Control-Allow-Credentials')
  sendReply(res, gate.metadataReply(method))
}

/**
 * Answers a CORS preflight that is the gate's to answer (`answersPreflight`: not one another CORS
 * layer already granted) and returns `true`; `false` for any other request. `methodsOf` finds the
 * methods the routes at the request's path accept (`addRouteMethods`), `undefined` when it cannot:
 * then `FALLBACK_METHODS`.
 */
export function answerPreflight<R extends IncomingMessage>(
  gate: Gate,
  req: R,
  res: ServerResponse,
  methodsOf: (req: R) => readonly string[] | undefined,
): boolean {
  if (req.method !== 'OPTIONS') return false
  const requested = req.headers['access-control-request-method']
  const otherLayer = res.hasHeader('access-control-allow-origin')
  if (!answersPreflight(req.method, requested, gate.cors, otherLayer)) return false
  sendReply(res, gate.cors.preflight(req.headers.origin, methodsOf(req) ?? FALLBACK_METHODS))
  return true
}

/**
 * Hands a framework's answer over to Node's response (the framework lets go of it): the headers
 * it set so far, and what the gate merges into `Access-Control-Expose-Headers` as an answer leaves.
 */
export function handOver(
  res: ServerResponse,
  headers: Readonly<Record<string, HeaderValue>>,
  cors: CorsPolicy | undefined,
): void {
  // for...in, not Object.entries: no array per header on every MCP request.
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined) res.setHeader(name, value)
  }
  if (cors !== undefined) applyExposeHeadersAtSend(cors, res, nodeAnswering)
}
