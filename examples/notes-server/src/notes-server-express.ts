import { hostHeaderValidation, originValidation } from '@modelcontextprotocol/express'
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node'
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpHandler, McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import { isLoopbackHost } from '@portcullis/core/adapter'
import { mcpRoute, portcullis } from '@portcullis/express'
import express, { type Express } from 'express'
import { type NotesServerConfig, notesVerifier, SERVER_INFO } from './notes-server.js'
import { NotesStore } from './notes-store.js'
import { NOTES_SCOPES, registerNotesTools } from './notes-tools.js'

/** The Express notes server: the app to listen with, and `close()` to end its MCP sessions. */
export interface ExpressNotesServer {
  app: Express
  close(): Promise<void>
}

/**
 * The notes MCP server on Express, not yet listening: the same tools, scopes and SDK choice as
 * `createNotesServer` (Fastify), through `@portcullis/express`.
 *
 * @example
 * const { app } = await createExpressNotesServer({ resource: 'http://127.0.0.1:3000/mcp', issuer: 'http://127.0.0.1:4000' })
 * app.listen(3000, '127.0.0.1')
 */
export async function createExpressNotesServer(config: NotesServerConfig): Promise<ExpressNotesServer> {
  const app = express()
  app.disable('x-powered-by')
  const resourceUrl = new URL(config.resource)

  // DNS rebinding protection for a server on a loopback address, before the gate (as on Fastify).
  if (isLoopbackHost(resourceUrl.hostname)) {
    const hosts = ['localhost', '127.0.0.1', '[::1]', resourceUrl.hostname]
    app.use(hostHeaderValidation(hosts), originValidation(hosts))
  }

  const auth = portcullis({
    resource: config.resource,
    authorizationServers: [config.issuer],
    verifier: notesVerifier(config),
    scopes: NOTES_SCOPES,
    resourceName: 'Portcullis notes',
    ...(config.dpop === undefined ? {} : { dpop: config.dpop }),
  })
  app.use(auth)

  const store = new NotesStore()
  const mcp =
    (config.sdk ?? 'v2') === 'v1'
      ? await mcpRoute(auth, {
          server: () => {
            const server = new McpServerV1(SERVER_INFO)
            registerNotesTools(server, store)
            return server
          },
          transport: StreamableHTTPServerTransport,
        })
      : await mcpRoute(auth, {
          server: () => {
            const server = new McpServerV2(SERVER_INFO)
            registerNotesTools(server, store)
            return server
          },
          // 2025-era clients (initialize, Mcp-Session-Id) get sessions; 2026-07-28 requests go to the SDK entry.
          transport: NodeStreamableHTTPServerTransport,
          handler: (factory) => toNodeHandler(createMcpHandler(factory)),
        })
  app.use(mcp)
  return { app, close: () => mcp.close() }
}
