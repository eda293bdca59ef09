// The gate on Node's own request (`IncomingMessage`), for an adapter whose handlers get it
// (Express, Connect, `node:http`): `next` called when the request may go on, the refusal sent
// otherwise. The adapter reads what only its framework knows (the parsed body, the client
// address) into the gate's input.
import type { ServerResponse } from 'node:http'
import type { ScopeRequirement } from '../oauth/scopes.js'
import { type Admission, type Answering, admitNow, applyAdmission, scopeRefusal } from './adapter-reports.js'
import { applyCorsBeside } from './cors-policy.js'
import type { AuthenticateInput, Gate, VerifiedAuthInfo } from './gate-types.js'
import { type NodeRequest, nodeAnswering, sendReply } from './node-reply.js'
import {
  bindingIn,
  type GateBinding,
  markVerifiedIn,
  type RequestState,
  requestStateOf,
  verifiedAuthOf,
} from './request-state.js'

/** A connect-style continuation: no argument to go on, an error for the framework's error handler. */
export type NodeNext = (error?: unknown) => void

/**
 * Authenticates `req` with the binding's gate (its CORS headers set first, beside another layer's)
 * and checks `requirement`: on success the caller is `req.auth` and `next()` is called, otherwise
 * the refusal is sent. `input` is the gate's input, read by the adapter (`gateInput`). `exposed`:
 * the request's state when the request's prototype reads `req.auth` from it (the adapter defined
 * `callerAccessor` there): the caller is recorded there only, unless the request has a `req.auth`
 * of its own (another layer's), which the gate's caller replaces.
 */
export function guardNodeRequest<R extends NodeRequest>(
  binding: GateBinding<R>,
  req: R,
  res: ServerResponse,
  input: AuthenticateInput,
  requirement: ScopeRequirement | undefined,
  next: NodeNext,
  exposed?: RequestState,
): void {
  const { gate } = binding
  if (gate.cors !== undefined) applyCorsBeside(gate.cors, req.headers.origin, res, nodeAnswering)
  const state = exposed !== undefined && !Object.hasOwn(req, 'auth') ? exposed : undefined
  const admission = admitNow(gate, binding, req, input, requirement)
  if (admission instanceof Promise) {
    admission.then((settled) => applyToNode(gate, req, res, state, settled, next)).catch(next)
  } else applyToNode(gate, req, res, state, admission, next)
}

/** Applies an admission to a Node request (the caller in `state` when given) and goes on when admitted. */
function applyToNode(
  gate: Gate,
  req: NodeRequest,
  res: ServerResponse,
  state: RequestState | undefined,
  admission: Admission,
  next: NodeNext,
): void {
  const admitted =
    state === undefined
      ? applyAdmission(nodeAnswering, gate, req, res, admission)
      : applyAdmission(stateAnswering, gate, state, res, admission)
  if (admitted) next()
}

// The caller recorded in a request's state only: where `req.auth` reads the state (`callerAccessor`).
const stateAnswering: Answering<RequestState, ServerResponse> = {
  ...nodeAnswering,
  setCaller: (state, auth, gate) => markVerifiedIn(state, gate, auth),
}

/**
 * The caller a gate verified on `req`, typed with what the gate guarantees. Throws (naming
 * `owner`) when no gate did: the route is not behind the gate, a server mistake to fix.
 */
export function verifiedCaller(req: object, owner: string): VerifiedAuthInfo {
  const auth = verifiedAuthOf(req)
  if (auth === undefined) {
    throw new Error(
      `${owner}: no gate verified this request; put the route behind portcullis() (or protect() / requireScopes() with routes: "declared"), and add to res.locals rather than replace it`,
    )
  }
  return auth
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
    // What the middlewares know of `req`, read once: each read is a megamorphic load on Express.
    const state = requestStateOf(req, res)
    const binding = fixed ?? bindingIn(state, owner, onRejection)
    if (binding instanceof Error) return next(binding)
    if (state?.verifiedBy !== binding.gate) return authenticate(binding, req, res, next, requirement)
    checkVerifiedScopes(binding, req, res, requirement, state.auth!, next)
  }
}

/**
 * The scope check of a request whose caller (`auth`) the binding's gate verified before: `next()`
 * when the caller has `requirement` (or there is none), else the reported 403 is sent.
 */
function checkVerifiedScopes<R extends NodeRequest>(
  binding: GateBinding<R>,
  req: R,
  res: ServerResponse,
  requirement: ScopeRequirement | undefined,
  auth: VerifiedAuthInfo,
  next: NodeNext,
): void {
  const refusal =
    requirement === undefined ? undefined : scopeRefusal(binding.gate, binding, req, auth, requirement)
  if (refusal === undefined) next()
  else sendReply(res, refusal)
}
