import type { ScopeRequirement } from '@portcullis/core'
import {
  type Admission,
  authenticateAndAdmit,
  corsHeadersBeside,
  FAILED_MESSAGE,
  formBodyToken,
  gateInput,
  parseScopeArgs,
  type ScopeArgs,
  scopeRefusal,
} from '@portcullis/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import {
  bindingSeen,
  type GateBinding,
  gatesSeen,
  markVerified,
  type RejectionListener,
  verifiedAuthOf,
  verifiedBy,
} from './request-state.js'
import { sendReply } from './send-reply.js'

export const OWNER = '@portcullis/express'

/** Arguments of `requireScopes`: scope names (all required), or one `ScopeRequirement`. */
export type RequireScopesArgs = ScopeArgs

/** The default rejection report: unexpected failures only, the token already replaced by its fingerprint. */
export const reportFailures: RejectionListener = (event) => {
  if (event.severity === 'error') console.error(`${OWNER}: ${FAILED_MESSAGE}`, event.fields)
}

/** A scope requirement from `requireScopes` arguments, validated when the route is set up. */
export const requirementOf = (scopes: RequireScopesArgs): ScopeRequirement =>
  parseScopeArgs(scopes, `${OWNER}: requireScopes`)

/**
 * Authenticates the request (unless the gate already did) and checks `requirement`, then calls
 * `next()`; otherwise answers with the gate's rejection. `binding`: one fixed gate, or `undefined`
 * for the gate of the portcullis middleware the request went through.
 */
export function scopeGuard(
  fixed: GateBinding | undefined,
  requirement: ScopeRequirement | undefined,
): RequestHandler {
  return function portcullisScopeGuard(req: Request, res: Response, next: NextFunction) {
    const binding = fixed ?? bindingOf(req)
    if (binding instanceof Error) return next(binding)
    if (verifiedBy(req) !== binding.gate) {
      // The portcullis middleware let this request through (public path, `routes: 'declared'`):
      // authenticate here rather than let it pass (fail closed).
      return guard(binding, req, res, next, requirement)
    }
    if (requirement === undefined) return next()
    const refusal = scopeRefusal(binding.gate, binding, req, verifiedAuthOf(req)!, requirement)
    if (refusal === undefined) next()
    else sendReply(res, refusal)
  }
}

/** Authenticates `req` with the binding's gate, then checks `requirement`; `next()` only on success. */
export function guard(
  binding: GateBinding,
  req: Request,
  res: Response,
  next: NextFunction,
  requirement: ScopeRequirement | undefined,
): void {
  const { gate } = binding
  if (gate.cors !== undefined) {
    const set = corsHeadersBeside(gate.cors, req.headers.origin, {
      allowOrigin: res.getHeader('access-control-allow-origin'),
      vary: res.getHeader('vary'),
      exposeHeaders: res.getHeader('access-control-expose-headers'),
    })
    for (const name in set) res.setHeader(name, set[name]!)
  }
  const apply = (admission: Admission): void => {
    if (admission.auth !== undefined) {
      req.auth = admission.auth
      markVerified(req, gate, admission.auth)
    }
    if (admission.headers !== undefined)
      for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value)
    if (admission.ok) next()
    else sendReply(res, admission.reply)
  }
  const bodyToken = formBodyToken(req.headers['content-type'], req.body)
  // req.ip parses the forwarding headers ("trust proxy") on every read: only when the limiter asks.
  const input = gateInput(req, req.method, req.originalUrl, bodyToken, () => req.ip)
  authenticateAndAdmit(gate, binding, req, input, requirement, apply, next)
}

/** The gate for a guard that names none: the one portcullis middleware the request went through. */
function bindingOf(req: Request): GateBinding | Error {
  const verified = verifiedBy(req)
  if (verified !== undefined)
    return bindingSeen(req, verified) ?? { gate: verified, onRejection: reportFailures }
  const seen = gatesSeen(req)
  if (seen.length === 1) return seen[0]!
  if (seen.length === 0) {
    return new Error(
      `${OWNER}: protect() / requireScopes() on a route no portcullis() middleware covers; mount app.use(portcullis(...)) before the route`,
    )
  }
  return new Error(
    `${OWNER}: this request went through ${seen.length} portcullis() middlewares; use the bound guard of the one that protects the route (auth.requireScopes(...), auth.protect())`,
  )
}

/**
 * Authenticates requests that reach it, with the gate of the `portcullis()` middleware they went
 * through: for routes that `routes: 'declared'` or `public` leave open. A no-op once verified.
 *
 * @example
 * app.use(portcullis({ ...options, routes: 'declared' }))
 * app.post('/mcp', protect(), mcpHandler)
 */
export function protect(): RequestHandler {
  return scopeGuard(undefined, undefined)
}

/**
 * Answers 403 `insufficient_scope` (every missing scope in the challenge, MCP 2026-07-28 §Runtime
 * Insufficient Scope Errors) unless the caller's token has the scopes: names (all of them), or
 * `{ anyOf }` / `{ allOf }`; `scopes.implies` applies. Authenticates first where the portcullis
 * middleware left the route open (fail closed).
 *
 * @example
 * app.delete('/notes/:id', requireScopes('notes:write'), handler)
 */
export function requireScopes(...scopes: RequireScopesArgs): RequestHandler {
  return scopeGuard(undefined, requirementOf(scopes))
}
