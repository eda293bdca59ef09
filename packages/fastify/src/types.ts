import type { Gate, ScopeRequirement, VerifiedAuthInfo } from '@portcullis/core'
import type { ScopeArgs } from '@portcullis/core/adapter'
import type { preHandlerHookHandler } from 'fastify'

/** Arguments of `requireScopes`: scope names (all required), or one `ScopeRequirement`. */
export type RequireScopesArgs = ScopeArgs

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified caller, set by the gate before any route hook or handler runs. `undefined` on
     * routes the gate does not protect (`config: { public: true }`, metadata routes).
     */
    auth: VerifiedAuthInfo
  }

  interface FastifyContextConfig {
    /** `true` makes a route public: no token needed (Express: the `public` option). */
    public?: boolean
    /** `true` protects a route when the plugin runs with `routes: 'declared'` (Express: `protect()`). */
    protect?: boolean
    /** Scopes the route needs: an array (all of them), `{ allOf }` or `{ anyOf }`. Implication applies. */
    scopes?: ScopeRequirement
  }

  interface FastifyInstance {
    /** The request pipeline of the resource this scope protects (Express: `auth.gate`). */
    gate: Gate
    /**
     * A `preHandler` hook that answers 403 `insufficient_scope` unless the caller has the scopes.
     *
     * @example
     * app.delete('/notes/:id', { preHandler: app.requireScopes('notes:write') }, handler)
     * app.get('/search', { preHandler: app.requireScopes({ anyOf: ['notes:read', 'files:read'] }) }, handler)
     */
    requireScopes(...scopes: RequireScopesArgs): preHandlerHookHandler
  }
}
