// Fastify's private route context, read in this one place. The gate needs the route's `config` on
// every request; the public `request.routeOptions` builds a new object of a dozen members on each
// read (fastify lib/request.js). The context sits on the request under a symbol (lib/symbols.js
// `kRouteContext`, described 'fastify.context'): found on the first request and checked against
// `routeOptions`, else never used. test/fastify-compat.test.ts fails when Fastify moves it.
import type { FastifyRequest } from 'fastify'

const CONTEXT_DESCRIPTION = 'fastify.context'

/** The symbol of Fastify's route context on a request: `undefined` before the first request, `null` when not found. */
let contextKey: symbol | null | undefined

type WithContext = Record<symbol, { config?: unknown } | undefined>

function findContextKey(request: FastifyRequest): symbol | null {
  const key = Object.getOwnPropertySymbols(request).find(
    (symbol) => symbol.description === CONTEXT_DESCRIPTION,
  )
  if (key === undefined) return null
  const context = (request as unknown as WithContext)[key]
  return context !== undefined && context.config === request.routeOptions.config ? key : null
}

/** The config of the route a request matched (Fastify's `request.routeOptions.config`), without a copy of the route options. */
export function routeConfigOf(request: FastifyRequest): unknown {
  if (contextKey === undefined) contextKey = findContextKey(request)
  if (contextKey !== null) {
    const context = (request as unknown as WithContext)[contextKey]
    if (context !== undefined) return context.config
  }
  return request.routeOptions.config
}

/** Whether the private route context is used (false: every read goes through `routeOptions`). For the compat test. */
export function usesRouteContext(): boolean {
  return contextKey !== undefined && contextKey !== null
}
