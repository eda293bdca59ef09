// What a middleware-style adapter (Express; anything that passes a Node request down a chain of
// handlers) remembers on a request between its gate middleware and the guards of the route: which
// gates saw the request, and which one verified its caller. `R` is the framework's request, handed
// to the binding's listeners.
import type { AdapterReporters } from './adapter-reports.js'
import type { Gate, VerifiedAuthInfo } from './gate-types.js'

/** A gate as a request meets it: the gate and where its middleware reports. */
export interface GateBinding<R> extends AdapterReporters<R> {
  gate: Gate
}

/**
 * What the portcullis middlewares a request passed through know about it (one object per request).
 * Read it once per handler (`requestStateOf`): on Express, every read of the request's slot is a
 * megamorphic load.
 */
export interface RequestState {
  /** The first gate whose middleware saw the request, and any other after it, in order. */
  seen: GateBinding<never> | undefined
  others: GateBinding<never>[] | undefined
  /** The gate that verified the caller, and the caller: what `verifiedAuth(req)` returns. */
  verifiedBy: Gate | undefined
  auth: VerifiedAuthInfo | undefined
}

// A symbol-keyed slot: nothing the application sees by name, and no WeakMap entry per request
// (ephemerons make the collector work per request: it cost more than the gate itself). Written
// as an ordinary property: `Object.defineProperty` cost about 1.2 µs a request on Express, where
// the assignment costs a tenth of that. `Object.keys`, `for...in` and `JSON.stringify` leave a
// symbol out; what copies it (`Object.assign`, a spread, Express's `res.render`) or prints it
// (`console.log`) meets a `StateRecord`, which never shows the caller or its token.
const STATE = Symbol('portcullis request state')
type Slotted = { [STATE]?: RequestState }

// Node's util.inspect (console.log) calls this member when present.
const INSPECT = Symbol.for('nodejs.util.inspect.custom')

/** A request's state as kept: printed and serialised as whether it was verified, nothing more. */
class StateRecord implements RequestState {
  seen: GateBinding<never> | undefined
  others: GateBinding<never>[] | undefined
  verifiedBy: Gate | undefined
  auth: VerifiedAuthInfo | undefined

  constructor(
    seen: GateBinding<never> | undefined,
    verifiedBy: Gate | undefined,
    auth: VerifiedAuthInfo | undefined,
  ) {
    this.seen = seen
    this.others = undefined
    this.verifiedBy = verifiedBy
    this.auth = auth
  }

  [INSPECT](): string {
    return `RequestState { verified: ${this.verifiedBy !== undefined} }`
  }

  toJSON(): { verified: boolean } {
    return { verified: this.verifiedBy !== undefined }
  }
}

/**
 * Where a request's state is kept: Express's `res.locals` (made per request with no prototype, so a
 * key added to it allocates nothing), else the request itself. On Express's request, whose hidden
 * class is its own, every property added copies that class: 1.4 KB and ~4 % of a warm request.
 * An application that replaces `res.locals` after the middleware loses the state: the guards then
 * refuse to serve the route (fail closed) and say why.
 */
function holderOf(req: object, res?: object): Slotted {
  // The response when the caller has it: one read of Express's request fewer.
  const response = (res ?? (req as { res?: object }).res) as { locals?: unknown } | undefined
  const locals = response?.locals
  return typeof locals === 'object' && locals !== null ? (locals as Slotted) : (req as Slotted)
}

/**
 * Records that the middleware of `binding` saw `req` (answered by `res`, when the caller has it),
 * for the route's guards; returns what is known of `req`.
 */
export function rememberGate<R extends object>(req: R, binding: GateBinding<R>, res?: object): RequestState {
  const holder = holderOf(req, res)
  const state = holder[STATE]
  if (state === undefined) {
    const kept = new StateRecord(binding, undefined, undefined)
    holder[STATE] = kept
    return kept
  }
  if (state.seen === undefined) state.seen = binding
  else if (state.seen.gate !== binding.gate && !state.others?.some((known) => known.gate === binding.gate)) {
    if (state.others === undefined) state.others = [binding]
    else state.others.push(binding)
  }
  return state
}

/** What the portcullis middlewares know of `req` (answered by `res`, when the caller has it), if any saw it or verified its caller. */
export function requestStateOf(req: object, res?: object): RequestState | undefined {
  return holderOf(req, res)[STATE]
}

/**
 * `auth` as an accessor, for a framework's request prototype (`exposeCaller` in
 * `@portcullis/express`): it reads the caller a gate verified on the request (`verifiedAuthOf`),
 * so the gate adds no `auth` property to each request. On Express, whose every request has a
 * hidden class of its own, adding one copies that class: about 1 KB and 4 µs a request. Writing
 * `req.auth` still works: it makes the value the request's own property, as it was before.
 */
export const callerAccessor: PropertyDescriptor = Object.freeze({
  configurable: true,
  enumerable: false,
  get(this: object): VerifiedAuthInfo | undefined {
    return requestStateOf(this)?.auth
  },
  set(this: object, value: unknown): void {
    Object.defineProperty(this, 'auth', { value, writable: true, enumerable: true, configurable: true })
  },
})

/**
 * Sets `auth` as the caller of `req` where applications and the MCP SDK transports read it:
 * `req.auth`, unless the request's prototype reads it from the state already (`callerAccessor`).
 */
export function setCallerOn<A>(req: { auth?: A | undefined }, auth: A): void {
  if (req.auth !== auth) req.auth = auth
}

/** Records that `gate` verified the caller of `req` as `auth`. */
export function markVerified(req: object, gate: Gate, auth: VerifiedAuthInfo): void {
  const holder = holderOf(req)
  const state = holder[STATE]
  if (state === undefined) holder[STATE] = new StateRecord(undefined, gate, auth)
  else markVerifiedIn(state, gate, auth)
}

/** Records in a request's state that `gate` verified its caller as `auth`. */
export function markVerifiedIn(state: RequestState, gate: Gate, auth: VerifiedAuthInfo): void {
  state.verifiedBy = gate
  state.auth = auth
}

/** The caller a gate verified on `req`, if one has. */
export function verifiedAuthOf(req: object): VerifiedAuthInfo | undefined {
  return requestStateOf(req)?.auth
}

/** The gate that verified the caller of `req`, if one has. */
export function verifiedBy(req: object): Gate | undefined {
  return requestStateOf(req)?.verifiedBy
}

/** The caller `gate` verified on `req`; `undefined` when no gate or another one did. */
export function verifiedAuthBy(req: object, gate: Gate): VerifiedAuthInfo | undefined {
  const state = requestStateOf(req)
  return state?.verifiedBy === gate ? state.auth : undefined
}

/** The binding of the middleware of `gate` that saw `req` (no list made: the guard's hot path). */
export function bindingSeen<R extends object>(req: R, gate: Gate): GateBinding<R> | undefined {
  return seenIn<R>(requestStateOf(req), gate)
}

function seenIn<R>(state: RequestState | undefined, gate: Gate): GateBinding<R> | undefined {
  if (state?.seen?.gate === gate) return state.seen as GateBinding<R>
  return state?.others?.find((binding) => binding.gate === gate) as GateBinding<R> | undefined
}

/** The gates whose middleware saw `req`. */
export function gatesSeen<R extends object>(req: R): readonly GateBinding<R>[] {
  return seenAll<R>(requestStateOf(req))
}

function seenAll<R>(state: RequestState | undefined): readonly GateBinding<R>[] {
  if (state?.seen === undefined) return []
  const seen = state.others === undefined ? [state.seen] : [state.seen, ...state.others]
  return seen as GateBinding<R>[]
}

/**
 * The binding for a guard that names no gate: the one whose gate verified `req` (its middleware's,
 * or `onRejection` as the reporter when that middleware did not see it), else the one middleware
 * that saw it. Otherwise an error naming `owner`: no middleware covers the route, or several do
 * and the guard cannot choose (a server mistake, handed to the framework's error handler).
 */
export function bindingOf<R extends object>(
  req: R,
  owner: string,
  onRejection: GateBinding<R>['onRejection'],
): GateBinding<R> | Error {
  return bindingIn(requestStateOf(req), owner, onRejection)
}

/** `bindingOf` from what is known of the request (`requestStateOf`), read once by the caller. */
export function bindingIn<R>(
  state: RequestState | undefined,
  owner: string,
  onRejection: GateBinding<R>['onRejection'],
): GateBinding<R> | Error {
  const verified = state?.verifiedBy
  if (verified !== undefined) return seenIn<R>(state, verified) ?? { gate: verified, onRejection }
  const seen = seenAll<R>(state)
  if (seen.length === 1) return seen[0]!
  if (seen.length === 0) {
    return new Error(
      `${owner}: protect() / requireScopes() on a route no portcullis() middleware covers; mount app.use(portcullis(...)) before the route (and add to res.locals rather than replace it: the middleware keeps what it knows of the request there)`,
    )
  }
  return new Error(
    `${owner}: this request went through ${seen.length} portcullis() middlewares; use the bound guard of the one that protects the route (auth.requireScopes(...), auth.protect())`,
  )
}

// The binding each middleware (or gate) was made with, for what is mounted beside it (an MCP route).
const kept = new WeakMap<object, GateBinding<never>>()

/** Keeps `binding` under `key` (the middleware made with it, or its gate) and returns it. */
export function keepBinding<R>(key: object, binding: GateBinding<R>): GateBinding<R> {
  kept.set(key, binding)
  return binding
}

/** The binding kept under `key`, if any. */
export function keptBinding<R>(key: object): GateBinding<R> | undefined {
  return kept.get(key) as GateBinding<R> | undefined
}
