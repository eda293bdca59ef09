import type { IncomingMessage } from 'node:http'
import type { AuditEvent, Gate, RejectionLog, VerifiedAuthInfo } from '@portcullis/core'
import type { AdapterReporters } from '@portcullis/core/adapter'
import type { Request } from 'express'

/** Where rejections are reported. `req` is the rejected request (never log its headers: they hold the token). */
export type RejectionListener = (event: RejectionLog, req: Request) => void

/** Where audit events go, with the request they decide (never log its headers: they hold the token). */
export type AuditListener = (event: AuditEvent, req: Request) => void

/** A gate as a request meets it: the gate and where its middleware reports. */
export interface GateBinding extends AdapterReporters<Request> {
  gate: Gate
}

/** What the portcullis middlewares a request passed through know about it (one object per request). */
interface RequestState {
  /** The first gate whose middleware saw the request, and any other after it, in order. */
  seen: GateBinding | undefined
  others: GateBinding[] | undefined
  /** The gate that verified the caller, and the caller: what `verifiedAuth(req)` returns. */
  verifiedBy: Gate | undefined
  auth: VerifiedAuthInfo | undefined
}

// A symbol-keyed slot on the request: nothing the application sees by name, and no WeakMap entry
// per request (ephemerons make the collector work per request: it cost more than the gate itself).
const STATE = Symbol('portcullis request state')
type Slotted = IncomingMessage & { [STATE]?: RequestState }

/** Records that the middleware of `binding` saw `req`; `protect()` and `requireScopes()` look it up. */
export function rememberGate(req: IncomingMessage, binding: GateBinding): void {
  const state = (req as Slotted)[STATE]
  if (state === undefined) {
    ;(req as Slotted)[STATE] = { seen: binding, others: undefined, verifiedBy: undefined, auth: undefined }
  } else if (state.seen === undefined) state.seen = binding
  else if (state.seen.gate !== binding.gate && !state.others?.some((known) => known.gate === binding.gate)) {
    if (state.others === undefined) state.others = [binding]
    else state.others.push(binding)
  }
}

/** Records that `gate` verified the caller of `req` as `auth`. */
export function markVerified(req: IncomingMessage, gate: Gate, auth: VerifiedAuthInfo): void {
  const state = (req as Slotted)[STATE]
  if (state === undefined) {
    ;(req as Slotted)[STATE] = { seen: undefined, others: undefined, verifiedBy: gate, auth }
  } else {
    state.verifiedBy = gate
    state.auth = auth
  }
}

/** The caller a gate verified on `req`, if one has. */
export function verifiedAuthOf(req: IncomingMessage): VerifiedAuthInfo | undefined {
  return (req as Slotted)[STATE]?.auth
}

/** The gate that verified the caller of `req`, if one has. */
export function verifiedBy(req: IncomingMessage): Gate | undefined {
  return (req as Slotted)[STATE]?.verifiedBy
}

/** The binding of the middleware of `gate` that saw `req` (no list made: the guard's hot path). */
export function bindingSeen(req: IncomingMessage, gate: Gate): GateBinding | undefined {
  const state = (req as Slotted)[STATE]
  if (state?.seen?.gate === gate) return state.seen
  return state?.others?.find((binding) => binding.gate === gate)
}

/** The gates whose middleware saw `req`. */
export function gatesSeen(req: IncomingMessage): readonly GateBinding[] {
  const state = (req as Slotted)[STATE]
  if (state?.seen === undefined) return []
  return state.others === undefined ? [state.seen] : [state.seen, ...state.others]
}
