import type { IncomingMessage } from 'node:http'
import type { AuditEvent, Gate, RejectionLog, VerifiedAuthInfo } from '@portcullis/core'
import type { Request } from 'express'

/** Where rejections are reported. `req` is the rejected request (never log its headers: they hold the token). */
export type RejectionListener = (event: RejectionLog, req: Request) => void

/** Where audit events go, with the request they decide (never log its headers: they hold the token). */
export type AuditListener = (event: AuditEvent, req: Request) => void

/** A gate as a request meets it: the gate and how its middleware reports rejections and decisions. */
export interface GateBinding {
  gate: Gate
  onRejection: RejectionListener
  onAudit?: AuditListener | undefined
}

/** What the portcullis middlewares a request passed through know about it. */
interface RequestState {
  /** Each distinct gate whose middleware saw the request, in order. */
  seen: GateBinding[]
  /** The gate that verified the caller (`req.auth`), once one has. */
  verifiedBy?: Gate
  /** The caller it verified: what `verifiedAuth(req)` returns, whatever else sets `req.auth`. */
  auth?: VerifiedAuthInfo
}

// A symbol-keyed slot on the request: nothing the application sees by name, and no WeakMap entry
// per request (ephemerons make the collector work per request: it cost more than the gate itself).
const STATE = Symbol('portcullis request state')
type Slotted = IncomingMessage & { [STATE]?: RequestState }
const states = {
  get: (req: IncomingMessage): RequestState | undefined => (req as Slotted)[STATE],
  set: (req: IncomingMessage, state: RequestState): void => {
    ;(req as Slotted)[STATE] = state
  },
}

/** Records that the middleware of `binding` saw `req`; `protect()` and `requireScopes()` look it up. */
export function rememberGate(req: IncomingMessage, binding: GateBinding): void {
  const state = states.get(req)
  if (state === undefined) states.set(req, { seen: [binding] })
  else if (!state.seen.some((known) => known.gate === binding.gate)) state.seen.push(binding)
}

/** Records that `gate` verified the caller of `req` as `auth`. */
export function markVerified(req: IncomingMessage, gate: Gate, auth: VerifiedAuthInfo): void {
  const state = states.get(req)
  if (state === undefined) states.set(req, { seen: [], verifiedBy: gate, auth })
  else {
    state.verifiedBy = gate
    state.auth = auth
  }
}

/** The caller a gate verified on `req`, if one has. */
export function verifiedAuthOf(req: IncomingMessage): VerifiedAuthInfo | undefined {
  return states.get(req)?.auth
}

/** The gate that verified the caller of `req`, if one has. */
export function verifiedBy(req: IncomingMessage): Gate | undefined {
  return states.get(req)?.verifiedBy
}

/** The gates whose middleware saw `req`. */
export function gatesSeen(req: IncomingMessage): readonly GateBinding[] {
  return states.get(req)?.seen ?? []
}
