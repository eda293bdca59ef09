import type { Gate, McpRouteOptions } from '@portcullis/core'
import { createMcpEndpoint, exposeHeadersAtSend, reportMcpReply } from '@portcullis/core/adapter'
import type { FastifyInstance } from 'fastify'
import { reportersOf } from './reporters.js'

const OWNER = '@portcullis/fastify mcpRoute'

/**
 * Hosts an MCP Streamable HTTP endpoint behind the gate of this scope (register it after
 * `portcullis`), for either MCP SDK line, with every rule of core's `createMcpEndpoint` (shared
 * with `@portcullis/express`): per-tool scopes checked before the SDK runs (403 step-up), lists
 * filtered per caller, 2025-era sessions bound to their principal. See the README.
 *
 * @example
 * await app.register(mcpRoute, { server: buildServer, transport: StreamableHTTPServerTransport })
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
