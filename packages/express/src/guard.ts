import type { ScopeRequirement } from '@portcullis/core'
import {
  gateInput,
  guardNodeRequest,
  nodeScopeGuard,
  parseScopeArgs,
  printFailures,
  type RequestState,
  requestFormToken,
  type ScopeArgs,
} from '@portcullis/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { GateBinding, RejectionListener } from './portcullis.js'

export const OWNER = '@portcullis/express'

/** Arguments of `requireScopes`: scope names (all required), or one `ScopeRequirement`. */
export type RequireScopesArgs = ScopeArgs

/** The default rejection report: unexpected failures only, the token already replaced by its fingerprint. */
export const reportFailures: RejectionListener = printFailures(OWNER)

/** A scope requirement from `requireScopes` arguments, validated when the route is set up. */
export const requirementOf = (scopes: RequireScopesArgs): ScopeRequirement =>
  parseScopeArgs(scopes, `${OWNER}: requireScopes`)

/**
 * Authenticates the request (unless the gate already did) and checks `requirement`, then calls
 * `next()`; otherwise answers with the gate's rejection. `binding`: one fixed gate, or `undefined`
 * for the gate of the portcullis middleware the request went through.
 */
export const scopeGuard = (
  fixed: GateBinding | undefined,
  requirement: ScopeRequirement | undefined,
): RequestHandler => nodeScopeGuard(fixed, requirement, OWNER, reportFailures, guard)

/**
 * Authenticates `req` with the binding's gate, then checks `requirement`; `next()` only on success.
 * `exposed`: the request's state, when `req.auth` reads it (`exposeCaller`); `method`: `req.method`,
 * when the caller has read it.
 */
export function guard(
  binding: GateBinding,
  req: Request,
  res: Response,
  next: NextFunction,
  requirement: ScopeRequirement | undefined,
  exposed?: RequestState,
  method: string = req.method,
): void {
  const bodyToken = requestFormToken(method, req)
  // req.ip parses the forwarding headers ("trust proxy") on every read: only when the limiter asks.
  const input = gateInput(req, method, req.originalUrl, bodyToken, () => req.ip)
  guardNodeRequest(binding, req, res, input, requirement, next, exposed)
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
