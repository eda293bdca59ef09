// The gate on Node's own request and response (`IncomingMessage`, `ServerResponse`), for an adapter
// whose handlers get those (Express, Connect, `node:http`; Fastify once it hands a reply over):
// answers written on the raw response, the caller set as `req.auth` (where the MCP SDK transports
// read it), and `next` called when the request may go on. The adapter reads what only its
// framework knows (the parsed body, the client address) into the gate's input.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { McpEndpoint } from '../mcp/route-options.js'
import type { ScopeRequirement } from '../oauth/scopes.js'
import {
  type Admission,
  type Answering,
  applyAdmission,
  authenticateAndAdmit,
  reportMcpReply,
  scopeRefusal,
} from './adapter-reports.js'
import {
  answersPreflight,
  applyCorsBeside,
  applyExposeHeadersAtSend,
  type CorsPolicy,
  type HeaderValue,
} from './cors-policy.js'
import type { AuthenticateInput, Gate, VerifiedAuthInfo } from './gate-types.js'
import {
  bindingOf,
  type GateBinding,
  markVerified,
  verifiedAuthBy,
  verifiedAuthOf,
  verifiedBy,
} from './request-state.js'
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

/** A connect-style continuation: no argument to go on, an error for the framework's error handler. */
export type NodeNext = (error?: unknown) => void

/** How the gate's decisions are written on a Node request and response (`req.auth`, the raw response). */
export const nodeAnswering: Answering<NodeRequest, ServerResponse> = {
  get: (res, name) => res.getHeader(name),
  set: (res, name, value) => void res.setHeader(name, value),
  setCaller: (req, auth, gate) => {
    req.auth = auth
    markVerified(req, gate, auth)
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
 * Authenticates `req` with the binding's gate (its CORS headers set first, beside another layer's)
 * and checks `requirement`: on success the caller is `req.auth` and `next()` is called, otherwise
 * the refusal is sent. `input` is the gate's input, read by the adapter (`gateInput`).
 */
export function guardNodeRequest<R extends NodeRequest>(
  binding: GateBinding<R>,
  req: R,
  res: ServerResponse,
  input: AuthenticateInput,
  requirement: ScopeRequirement | undefined,
  next: NodeNext,
): void {
  const { gate } = binding
  if (gate.cors !== undefined) applyCorsBeside(gate.cors, req.headers.origin, res, nodeAnswering)
  const apply = (admission: Admission): void => {
    if (applyAdmission(nodeAnswering, gate, req, res, admission)) next()
  }
  authenticateAndAdmit(gate, binding, req, input, requirement, apply, next)
}

/**
 * The caller a gate verified on `req`, typed with what the gate guarantees. Throws (naming
 * `owner`) when no gate did: the route is not behind the gate, a server mistake to fix.
 */
export function verifiedCaller(req: object, owner: string): VerifiedAuthInfo {
  const auth = verifiedAuthOf(req)
  if (auth === undefined) {
    throw new Error(
      `${owner}: no gate verified this request; put the route behind portcullis() (or protect() / requireScopes() with routes: "declared")`,
    )
  }
  return auth
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
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) res.setHeader(name, value)
  }
  if (cors !== undefined) applyExposeHeadersAtSend(cors, res, nodeAnswering)
}

/**
 * A route guard (connect-style: `protect()`, `requireScopes()`): checks `requirement` for a caller
 * the gate verified, and authenticates any other request with `authenticate` (the adapter's
 * `guardNodeRequest` with its own input) rather than let it pass: fail closed where the gate's
 * middleware left the route open (a public path, `routes: 'declared'`). `fixed`: one binding, or
 * `undefined` for the one middleware the request went through (`bindingOf`; errors name `owner`,
 * and `onRejection` reports for a gate whose middleware did not see the request).
 */
export function nodeScopeGuard<R extends NodeRequest, S extends ServerResponse>(
  fixed: GateBinding<R> | undefined,
  requirement: ScopeRequirement | undefined,
  owner: string,
  onRejection: GateBinding<R>['onRejection'],
  authenticate: (
    binding: GateBinding<R>,
    req: R,
    res: S,
    next: NodeNext,
    requirement: ScopeRequirement | undefined,
  ) => void,
): (req: R, res: S, next: NodeNext) => void {
  return function portcullisScopeGuard(req, res, next) {
    const binding = fixed ?? bindingOf(req, owner, onRejection)
    if (binding instanceof Error) return next(binding)
    if (verifiedBy(req) !== binding.gate) return authenticate(binding, req, res, next, requirement)
    checkVerifiedScopes(binding, req, res, requirement, next)
  }
}

/**
 * The scope check of a request whose caller the binding's gate verified before: `next()` when the
 * caller has `requirement` (or there is none), else the reported 403 is sent.
 */
function checkVerifiedScopes<R extends NodeRequest>(
  binding: GateBinding<R>,
  req: R,
  res: ServerResponse,
  requirement: ScopeRequirement | undefined,
  next: NodeNext,
): void {
  const refusal =
    requirement === undefined
      ? undefined
      : scopeRefusal(binding.gate, binding, req, verifiedAuthOf(req)!, requirement)
  if (refusal === undefined) next()
  else sendReply(res, refusal)
}

/**
 * Serves a request of an MCP endpoint on Node's request and response: the endpoint's own answer
 * (a refusal, reported to the binding) or the SDK server's, with the caller the binding's gate
 * verified. `body` is the parsed body, exactly what the SDK gets; `onError` hears a failure of the
 * MCP server (answered 500), `next` an unexpected one.
 */
export function serveMcp<R extends NodeRequest>(
  endpoint: McpEndpoint,
  binding: GateBinding<R>,
  req: R,
  res: ServerResponse,
  body: unknown,
  onError: (error: unknown) => void,
  next: NodeNext,
): void {
  const decision = endpoint.handle({
    method: req.method ?? '',
    sessionId: req.headers['mcp-session-id'],
    body,
    auth: verifiedAuthBy(req, binding.gate),
  })
  if (decision.kind === 'serve') {
    decision.serve(req, res, onError).catch(next)
    return
  }
  reportMcpReply(binding, req, decision)
  sendReply(res, decision)
}
