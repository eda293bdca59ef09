import type { Gate, McpRouteOptions } from '@portcullis/core'
import { createMcpEndpoint, handOver, reportMcpReply } from '@portcullis/core/adapter'
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
      // Fastify lets go of the reply: the headers it set (CORS) go over, and what the portcullis
      // plugin's onSend adds, which a hijacked reply skips.
      reply.hijack()
      handOver(reply.raw, reply.getHeaders(), gate.cors)
      await decision.serve(request.raw, reply.raw, (error) =>
        request.log.error({ err: error }, 'the MCP server failed to handle a request'),
      )
    },
  })
}
