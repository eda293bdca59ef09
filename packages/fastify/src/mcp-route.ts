import type { Gate, McpRouteOptions } from '@portcullis/core'
import { createMcpEndpoint, exposeHeadersAtSend, reportMcpReply } from '@portcullis/core/adapter'
import type { FastifyInstance } from 'fastify'
import { reportersOf } from './reporters.js'

const OWNER = '@portcullis/fastify mcpRoute'

/**
 * Hosts an MCP Streamable HTTP endpoint behind the Portcullis gate, for either MCP SDK line. Register
 * it after `portcullis` in the same scope (or a child). For every POST it reads the JSON-RPC body
 * before the SDK does: a `tools/call`, `prompts/get` or `resources/read` whose scopes the token
 * lacks is answered 403 with one `insufficient_scope` challenge naming every scope the whole body
 * (batch included) is missing, minimal under implication (MCP 2026-07-28 §Runtime Insufficient
 * Scope Errors). The caller reaches handlers as the SDK expects it (`req.auth` → `extra.authInfo` in
 * 1.x, `ctx.http.authInfo` in 2.x); lists show only what the caller may use; 2025-era sessions are
 * bound to the principal that created them (another principal gets 404, as for an unknown session).
 * Every rule lives in core's `createMcpEndpoint`, shared with `@portcullis/express`.
 *
 * @example
 * // @modelcontextprotocol/sdk 1.x, with sessions
 * await app.register(portcullis, { resource, authorizationServers: [issuer], verifier })
 * await app.register(mcpRoute, { server: buildServer, transport: StreamableHTTPServerTransport })
 *
 * // @modelcontextprotocol/server 2.x, 2026-07-28 and stateless 2025-era serving
 * await app.register(mcpRoute, { server: buildServer, handler: (factory) => toNodeHandler(createMcpHandler(factory)) })
 */
export async function mcpRoute(fastify: FastifyInstance, options: McpRouteOptions): Promise<void> {
  if (!fastify.hasDecorator('gate')) {
    throw new Error(`${OWNER}: register the portcullis plugin first, in this scope or a parent scope`)
  }
  const gate: Gate = fastify.gate
  const endpoint = await createMcpEndpoint(gate, options, OWNER)
  const reporters = reportersOf(gate)
  fastify.addHook('onClose', () => endpoint.close())

  fastify.route({
    method: ['POST', 'GET', 'DELETE'],
    url: endpoint.path,
    config: { protect: true },
    handler: async function mcpEndpoint(request, reply) {
      const decision = endpoint.handle({
        method: request.method,
        sessionId: request.headers['mcp-session-id'],
        body: request.body,
        auth: request.auth,
      })
      if (decision.kind === 'reply') {
        reportMcpReply(reporters, request, decision)
        return reply.code(decision.status).headers(decision.headers).send(decision.body)
      }
      // Fastify lets go of the reply; headers it already set (CORS) are copied over.
      reply.hijack()
      const res = reply.raw
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) res.setHeader(name, value as string | number | string[])
      }
      // What the portcullis plugin does in onSend, which a hijacked reply skips.
      const allowOrigin = res.getHeader('access-control-allow-origin')
      const exposed =
        gate.cors &&
        exposeHeadersAtSend(gate.cors, allowOrigin, res.getHeader('access-control-expose-headers'))
      if (exposed) res.setHeader('Access-Control-Expose-Headers', exposed)
      await decision.serve(request.raw, res, (error) =>
        request.log.error({ err: error }, 'the MCP server failed to handle a request'),
      )
    },
  })
}
