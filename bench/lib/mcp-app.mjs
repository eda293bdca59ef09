// The MCP route the benches compare Portcullis against, shared by http-servers.mjs (one server per
// process) and mcp-overhead.mjs (in-process): the same SDK 1.x server and transport in both.

/**
 * Builds an McpServer (SDK 1.x) with one tool that echoes its text and the caller's client id.
 * `registrar(server)` gives what the tool is registered on: the server, or `withScopes(server, ...)`.
 */
export async function mcpServerFactory(registrar) {
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js')
  const { z } = await import('zod')
  return () => {
    const server = new McpServer({ name: 'bench', version: '1.0.0' })
    registrar(server).registerTool(
      'echo',
      { description: 'Echoes its text', inputSchema: { text: z.string() } },
      async ({ text }, extra) => ({
        content: [{ type: 'text', text: `${text} from ${extra.authInfo?.clientId ?? 'anonymous'}` }],
      }),
    )
    return server
  }
}

/** `POST /mcp` on a Fastify app with no auth: stateless with JSON answers, as the SDK 1.x documents it. */
export async function bareMcpRoute(app) {
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js')
  const buildServer = await mcpServerFactory((server) => server)
  // A new server and transport per request.
  app.post('/mcp', async (request, reply) => {
    const server = buildServer()
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    })
    reply.hijack()
    reply.raw.on('close', () => {
      transport.close()
      server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(request.raw, reply.raw, request.body)
  })
}
