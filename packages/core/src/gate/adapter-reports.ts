// What an adapter does around the gate's answer, the same in both: the input read from a Node
// request, the audit and rejection reports, the scope check after authentication, and the
// wording of key set reports. Adapters only apply the result to their framework's reply.

import { dpopHeaders } from '../dpop/request.js'
import type { ScopeRequirement } from '../oauth/scopes.js'
import type { AuditEvent } from '../telemetry/audit.js'
import type { KeySetEvent } from '../token/key-set-events.js'
import type { HeaderAccess } from './cors-policy.js'
import { authenticationAuditEvent, rejectionAuditEvent } from './gate-audit.js'
import { authorizationHeaders } from './gate-support.js'
import type {
  AuthenticateInput,
  AuthenticateResult,
  AuthorizeResult,
  Gate,
  GateReply,
  RejectionLog,
  VerifiedAuthInfo,
} from './gate-types.js'

/** A refused authentication or scope check. */
export type Rejection = Exclude<AuthenticateResult | AuthorizeResult, { ok: true }>

/** Where an adapter reports, with the framework's request: rejections always, audit events if asked. */
export interface AdapterReporters<R> {
  onRejection: (event: RejectionLog, request: R) => void
  onAudit?: ((event: AuditEvent, request: R) => void) | undefined
}

/** The message of a rejection report, and of an unexpected verifier failure. */
export const REJECTED_MESSAGE = 'request rejected by portcullis'
export const FAILED_MESSAGE = 'access token verification failed unexpectedly'

/**
 * The gate's input from a Node request: every `Authorization` and `DPoP` header as sent (read from
 * `rawHeaders`, so a duplicate is seen), the method, and the target as the client sent it
 * (RFC 9449 §4.3: a DPoP proof names the method and URL the client used).
 */
export function gateInput(
  raw: { readonly rawHeaders: readonly string[] },
  method: string,
  path: string,
  bodyToken: unknown,
  clientAddress: AuthenticateInput['clientAddress'],
): AuthenticateInput {
  return {
    authorization: authorizationHeaders(raw.rawHeaders),
    bodyToken,
    clientAddress,
    dpop: dpopHeaders(raw.rawHeaders),
    method,
    path,
  }
}

/** Calls a listener; a failing one must not turn an answer into a crash (reporting is best effort). */
function safely<E, R>(listener: ((event: E, request: R) => void) | undefined, event: E, request: R): void {
  if (listener === undefined) return
  try {
    listener(event, request)
  } catch {
    // ignored
  }
}

/** Reports a rejection (`auth`: the caller, when a scope check refused it) and returns the reply to send. */
export function reportRejection<R>(
  gate: Gate,
  reporters: AdapterReporters<R>,
  request: R,
  rejection: Rejection,
  auth: VerifiedAuthInfo | undefined,
): GateReply {
  safely(reporters.onRejection, rejection.log, request)
  if (reporters.onAudit !== undefined) {
    safely(reporters.onAudit, rejectionAuditEvent(gate.resource, auth, rejection), request)
  }
  return rejection.reply
}

/** Reports what an MCP endpoint's own reply carries (a step-up refusal, its audit event). */
export function reportMcpReply<R>(
  reporters: AdapterReporters<R>,
  request: R,
  decision: { log?: RejectionLog | undefined; audit?: AuditEvent | undefined },
): void {
  if (decision.log !== undefined) safely(reporters.onRejection, decision.log, request)
  if (decision.audit !== undefined) safely(reporters.onAudit, decision.audit, request)
}

/**
 * The caller admitted, or the reply that refuses it. A refused scope check still carries the
 * verified caller and the headers every answer needs (a fresh `DPoP-Nonce`): set them first.
 */
export type Admission =
  | { ok: true; auth: VerifiedAuthInfo; headers?: Readonly<Record<string, string>> | undefined }
  | {
      ok: false
      reply: GateReply
      auth?: VerifiedAuthInfo | undefined
      headers?: Readonly<Record<string, string>> | undefined
    }

/**
 * After authentication: reports the outcome, and checks `requirement` (with implication) when the
 * caller was verified. The adapter sets the caller and headers on its request, then goes on or
 * sends the reply.
 */
export function admit<R>(
  gate: Gate,
  reporters: AdapterReporters<R>,
  request: R,
  result: AuthenticateResult,
  requirement: ScopeRequirement | undefined,
): Admission {
  if (!result.ok) return { ok: false, reply: reportRejection(gate, reporters, request, result, undefined) }
  if (reporters.onAudit !== undefined) {
    safely(reporters.onAudit, authenticationAuditEvent(gate.resource, result), request)
  }
  if (requirement === undefined) return result
  const decision = gate.authorize(result.auth, requirement)
  if (decision.ok) return result
  const reply = reportRejection(gate, reporters, request, decision, result.auth)
  return { ok: false, reply, auth: result.auth, headers: result.headers }
}

/**
 * Authenticates `input` and admits the caller (`admit`), handing the admission to `apply`: at once
 * when the gate answers synchronously (a remembered token: no promise on the hot path), else once
 * it settles. `fail` gets what `apply` or the gate throws unexpectedly.
 */
export function authenticateAndAdmit<R>(
  gate: Gate,
  reporters: AdapterReporters<R>,
  request: R,
  input: AuthenticateInput,
  requirement: ScopeRequirement | undefined,
  apply: (admission: Admission) => void,
  fail: (error: Error) => void,
): void {
  const admission = admitNow(gate, reporters, request, input, requirement)
  if (admission instanceof Promise) admission.then(apply).catch(fail)
  else apply(admission)
}

/**
 * Authenticates `input` and admits the caller (`admit`): the admission at once when the gate
 * answers synchronously (a remembered token: no promise, and no callback to make, on the hot path),
 * else a promise of it.
 */
export function admitNow<R>(
  gate: Gate,
  reporters: AdapterReporters<R>,
  request: R,
  input: AuthenticateInput,
  requirement: ScopeRequirement | undefined,
): Admission | Promise<Admission> {
  const result = gate.authenticateNow(input)
  if (result instanceof Promise) {
    return result.then((settled) => admit(gate, reporters, request, settled, requirement))
  }
  return admit(gate, reporters, request, result, requirement)
}

/**
 * How an adapter writes the gate's decisions on its framework's request and answer: one constant
 * per framework (Node's response, Fastify's reply), so applying them costs no closure per request.
 */
export interface Answering<Q, A> extends HeaderAccess<A> {
  /** Sets the caller `gate` verified where the application reads it (`req.auth`, `request.auth`). */
  setCaller(request: Q, auth: VerifiedAuthInfo, gate: Gate): void
  /** Sends a reply of the gate as given: status, headers, the body as JSON (or none). */
  send(answer: A, reply: GateReply): void
}

/**
 * Applies an admission: the caller and the headers every answer needs first (a refused scope check
 * carries them too: a fresh `DPoP-Nonce`), then `true` when the request may go on, else the
 * refusal is sent and `false`.
 */
export function applyAdmission<Q, A>(
  answering: Answering<Q, A>,
  gate: Gate,
  request: Q,
  answer: A,
  admission: Admission,
): boolean {
  if (admission.auth !== undefined) answering.setCaller(request, admission.auth, gate)
  const { headers } = admission
  if (headers !== undefined) for (const name in headers) answering.set(answer, name, headers[name]!)
  if (admission.ok) return true
  answering.send(answer, admission.reply)
  return false
}

/** The scope check of a caller verified before: `undefined` when allowed, else the reported refusal. */
export function scopeRefusal<R>(
  gate: Gate,
  reporters: AdapterReporters<R>,
  request: R,
  auth: VerifiedAuthInfo,
  requirement: ScopeRequirement,
): GateReply | undefined {
  const decision = gate.authorize(auth, requirement)
  return decision.ok ? undefined : reportRejection(gate, reporters, request, decision, auth)
}

/** How a key set event is reported: its level, message and fields (never a key or a token). */
export function keySetEventReport({ type, ...keySet }: KeySetEvent): {
  level: 'warn' | 'info'
  message: string
  keySet: Omit<KeySetEvent, 'type'>
} {
  // While held keys serve after a failed refresh no request fails: the log is where it shows.
  if (type === 'key_ignored')
    return { level: 'warn', message: 'a key of the authorization server is not used', keySet }
  if (type === 'refresh_failed') {
    return {
      level: 'warn',
      message: 'the signing keys of the authorization server could not be refreshed',
      keySet,
    }
  }
  return {
    level: 'info',
    message: 'the signing keys of the authorization server were refreshed again',
    keySet,
  }
}
