import type { McpRouteOptions } from '@portcullis/core'
import { createMcpEndpoint, keptBinding, type McpEndpoint, serveMcp } from '@portcullis/core/adapter'
import express, { type Request, type RequestHandler, type Router } from 'express'
import { OWNER } from './guard.js'
import type { PortcullisMiddleware } from './portcullis.js'

const ROUTE_OWNER = `${OWNER} mcpRoute`

// Fastify's default body limit, so both adapters accept the same messages. An application that
// mounts its own `express.json({ limit })` first decides instead (body-parser parses a body once).
const JSON_LIMIT = 1_048_576

/** Options of the Express MCP route: those of every adapter, plus where server failures go. */
export interface ExpressMcpRouteOptions extends McpRouteOptions {
  /** Called when the MCP server throws while serving a request (answered 500). Default `console.error`. */
  onError?: (error: unknown, req: Request) => void
}

/** The router `mcpRoute` returns: mount it with `app.use(...)`; `close()` ends every open session. */
export interface McpRouter extends Router {
  readonly endpoint: McpEndpoint
  close(): Promise<void>
}

/**
 * An Express router hosting an MCP Streamable HTTP endpoint behind a `portcullis()` gate, for
 * either MCP SDK line, with every rule of core's `createMcpEndpoint` (shared with
 * `@portcullis/fastify`'s `mcpRoute`). It authenticates on its own where the middleware left it
 * open (`routes: 'declared'`) and parses JSON bodies unless the app did. See the README.
 *
 * @example
 * app.use(await mcpRoute(auth, { server: buildServer, transport: StreamableHTTPServerTransport }))
 */
export async function mcpRoute(
  portcullis: PortcullisMiddleware,
  options: ExpressMcpRouteOptions,
): Promise<McpRouter> {
  const binding = typeof portcullis === 'function' ? keptBinding<Request>(portcullis) : undefined
  if (binding === undefined) {
    throw new TypeError(`${ROUTE_OWNER}: the first argument must be the middleware portcullis() returned`)
  }
  const { onError, ...routeOptions } = options ?? ({} as ExpressMcpRouteOptions)
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError(`${ROUTE_OWNER}: option "onError": must be a function`)
  }
  const reportError =
    onError ?? ((error: unknown) => console.error(`${ROUTE_OWNER}: the MCP server failed`, error))
  const endpoint = await createMcpEndpoint(binding.gate, routeOptions, ROUTE_OWNER)

  const serve: RequestHandler = (req, res, next) => {
    // A POST body that no parser read goes to the SDK as `null`, never unread: the SDK must not
    // parse a body whose scopes were not checked.
    const body = req.method === 'POST' ? (req.body ?? null) : req.body
    serveMcp(endpoint, binding, req, res, body, (error) => reportError(error, req), next)
  }

  const guard = portcullis.protect()
  const json = express.json({ limit: JSON_LIMIT })
  const router = express.Router() as McpRouter
  router.route(endpoint.path).post(guard, json, serve).get(guard, serve).delete(guard, serve)
  Object.defineProperties(router, {
    endpoint: { value: endpoint, enumerable: true },
    close: { value: () => endpoint.close(), enumerable: true },
  })
  return router
}
