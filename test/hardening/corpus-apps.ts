import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { RejectionLog } from '@portcullis/core'
import { portcullisLogRedaction, portcullisRequestSerializer } from '@portcullis/core'
import {
  mcpRoute as expressMcpRoute,
  portcullis as expressPortcullis,
  requireScopes,
  verifiedAuth,
} from '@portcullis/express'
import portcullis, { mcpRoute } from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'
import { BODY_LIMIT, type HardeningStack, type ToolRuns } from './hardening-stack.js'

// The corpus app on each adapter, listening on 127.0.0.1 (ephemeral port): the same routes, the
// same gate options, the same MCP server (1.x SDK, stateless, JSON answers).
//   GET  /notes    any valid token           POST /notes  notes:write, form bodies parsed
//   GET  /reports  reports:read              GET  /health public
//   POST /mcp      MCP tools ping, read_notes (notes:read), write_note (notes:write),
//                  export_reports (reports:read), purge_notes (notes:admin)

export interface CorpusApp {
  adapter: 'fastify' | 'express'
  port: number
  /** Tool runs of the MCP server, by tool name. */
  runs: ToolRuns
  /** Everything the app logged (Fastify: pino lines; Express: rejection reports and errors). */
  logs: string[]
  close(): Promise<void>
}

const mcpOptions = (stack: HardeningStack, runs: ToolRuns) => ({
  server: stack.mcpServer(runs),
  transport: StreamableHTTPServerTransport,
  sessions: false,
  transportOptions: { enableJsonResponse: true },
})

const handlers = {
  notes: (auth: { extra?: { sub?: unknown }; scopes: readonly string[] }) => ({
    sub: auth.extra?.sub,
    scopes: auth.scopes,
  }),
}

export async function startFastifyCorpusApp(stack: HardeningStack): Promise<CorpusApp> {
  const logs: string[] = []
  const runs: ToolRuns = new Map()
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: {
      level: 'info',
      stream: { write: (line: string) => logs.push(line) },
      redact: portcullisLogRedaction,
      serializers: { req: portcullisRequestSerializer },
    },
  })
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  )
  await app.register(portcullis, stack.gateOptions())
  app.get('/notes', async (request) => handlers.notes(request.auth))
  app.post('/notes', { config: { scopes: ['notes:write'] } }, async (request) => handlers.notes(request.auth))
  app.get('/reports', { config: { scopes: ['reports:read'] } }, async (request) =>
    handlers.notes(request.auth),
  )
  app.get('/health', { config: { public: true } }, async () => ({ ok: true }))
  await app.register(mcpRoute, mcpOptions(stack, runs))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    adapter: 'fastify',
    port: (app.server.address() as AddressInfo).port,
    runs,
    logs,
    close: () => app.close(),
  }
}

export async function startExpressCorpusApp(stack: HardeningStack): Promise<CorpusApp> {
  const logs: string[] = []
  const runs: ToolRuns = new Map()
  const app = express()
  app.disable('x-powered-by')
  // Form bodies before the gate, so a body access_token is seen (RFC 6750 §2.2); the MCP route
  // parses its own JSON after the gate.
  app.use(express.urlencoded({ extended: false, limit: BODY_LIMIT }))
  const auth = expressPortcullis({
    ...stack.gateOptions(),
    public: ['/health'],
    onRejection: (event: RejectionLog) => logs.push(JSON.stringify(event)),
  })
  app.use(auth)
  app.get('/notes', (req, res) => {
    res.json(handlers.notes(verifiedAuth(req)))
  })
  app.post('/notes', requireScopes('notes:write'), (req, res) => {
    res.json(handlers.notes(verifiedAuth(req)))
  })
  app.get('/reports', requireScopes('reports:read'), (req, res) => {
    res.json(handlers.notes(verifiedAuth(req)))
  })
  app.get('/health', (_req, res) => {
    res.json({ ok: true })
  })
  const mcp = await expressMcpRoute(auth, {
    ...mcpOptions(stack, runs),
    onError: (error) => logs.push(`mcp error: ${String(error)}`),
  })
  app.use(mcp)
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
  })
  return {
    adapter: 'express',
    port: (server.address() as AddressInfo).port,
    runs,
    logs,
    close: async () => {
      await mcp.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
