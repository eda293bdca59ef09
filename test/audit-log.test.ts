// Audit events to the framework's logger: Fastify's `request.log` (plugin option `auditLog`) and
// Express's `onAudit` listener. One line per decision, MCP step-ups naming the tool, never a token.
import { Writable } from 'node:stream'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { type AuditEvent, jwtVerifier, MemoryDenyList, tokenFingerprint, withScopes } from '@portcullis/core'
import { mcpRoute as expressMcpRoute, portcullis as expressPortcullis } from '@portcullis/express'
import {
  AUDIT_LOG_MESSAGE,
  mcpRoute as fastifyMcpRoute,
  portcullis as fastifyPortcullis,
} from '@portcullis/fastify'
import { ISSUER, notesGateOptions, RESOURCE, tokenKit } from '@portcullis/test-kit'
import express from 'express'
import Fastify from 'fastify'
import t from 'tap'

const kit = await tokenKit()

const buildServer = () => {
  const server = new McpServer({ name: 'audit-log-test', version: '1.0.0' })
  withScopes(server, 'notes:read').registerTool('read', { description: 'reads' }, async () => ({
    content: [],
  }))
  withScopes(server, 'notes:admin').registerTool('purge', { description: 'purges' }, async () => ({
    content: [],
  }))
  return server
}

const purge = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'purge', arguments: {} },
})

type Send = (path: string, token?: string, body?: string) => Promise<number>
interface App {
  send: Send
  /** The audit events the framework's logger received. */
  events(): AuditEvent[]
  /** Everything logged, as text (to look for tokens). */
  text(): string
  close(): Promise<void>
}

async function fastifyApp(denyList: MemoryDenyList, auditLog: boolean | 'warn' | undefined): Promise<App> {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(fastifyPortcullis, {
    ...notesGateOptions(kit, jwtVerifier),
    denyList,
    ...(auditLog === undefined ? {} : { auditLog }),
  })
  await app.register(fastifyMcpRoute, {
    server: buildServer,
    transport: StreamableHTTPServerTransport,
    checkScopesSupported: false,
  })
  app.get('/notes', async () => ({}))
  app.get('/reports', { config: { scopes: ['reports:read'] } }, async () => ({}))
  const parsed = () =>
    lines.map((line) => JSON.parse(line) as { msg: string; level: number; audit?: AuditEvent })
  return {
    send: async (path, token, body) =>
      (
        await app.inject({
          method: body === undefined ? 'GET' : 'POST',
          url: path,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }),
          },
          ...(body === undefined ? {} : { payload: body }),
        })
      ).statusCode,
    events: () =>
      parsed()
        .filter((line) => line.msg === AUDIT_LOG_MESSAGE)
        .map((line) => ({ ...line.audit!, level: line.level }) as AuditEvent),
    text: () => lines.join('\n'),
    close: () => app.close(),
  }
}

async function expressApp(denyList: MemoryDenyList, auditLog: boolean | 'warn' | undefined): Promise<App> {
  const { createServer } = await import('node:http')
  const received: AuditEvent[] = []
  const paths: string[] = []
  const app = express()
  const gate = expressPortcullis({
    ...notesGateOptions(kit, jwtVerifier),
    denyList,
    ...(auditLog === undefined
      ? {}
      : {
          onAudit: (event: AuditEvent, req: express.Request) => {
            received.push(event)
            paths.push(req.path)
          },
        }),
  })
  app.use(gate)
  const mcp = await expressMcpRoute(gate, {
    server: buildServer,
    transport: StreamableHTTPServerTransport,
    checkScopesSupported: false,
  })
  app.use(mcp)
  app.get('/notes', (_req, res) => res.json({}))
  app.get('/reports', gate.requireScopes('reports:read'), (_req, res) => res.json({}))
  const server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    send: async (path, token, body) => {
      const response = await fetch(`${origin}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }),
        },
        ...(body === undefined ? {} : { body }),
      })
      await response.body?.cancel()
      return response.status
    },
    events: () => received,
    text: () => JSON.stringify({ received, paths }),
    close: async () => {
      await mcp.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

for (const [name, start] of [
  ['fastify', fastifyApp],
  ['express', expressApp],
] as const) {
  t.test(`${name}: one audit event per decision in the framework's logger`, async (t) => {
    const denyList = new MemoryDenyList()
    const app = await start(denyList, true)
    t.teardown(app.close)
    const reader = await kit.mint({ scope: 'notes:read' })
    const revoked = await kit.mint({ scope: 'notes:read' })
    denyList.add({ fingerprint: tokenFingerprint(revoked), expiresAt: Math.floor(Date.now() / 1000) + 300 })
    const forged = await kit.mint({}, { forged: true })

    t.equal(await app.send('/notes'), 401)
    t.equal(await app.send('/notes', reader), 200)
    t.equal(await app.send('/reports', reader), 403)
    t.equal(await app.send('/notes', revoked), 401)
    t.equal(await app.send('/notes', forged), 401)
    t.equal(await app.send('/mcp', reader, purge), 403)

    const caller = {
      issuer: ISSUER,
      subject: 'alice',
      client: 'notes-client',
      fingerprint: tokenFingerprint(reader),
    }
    t.match(app.events(), [
      { version: 1, outcome: 'refused', reason: 'credentials_missing', status: 401, resource: RESOURCE },
      { version: 1, outcome: 'allowed', scopes: ['notes:read'], ...caller },
      { outcome: 'allowed', ...caller },
      { outcome: 'step_up', reason: 'scope_insufficient', status: 403, scopes: ['reports:read'], ...caller },
      { outcome: 'revoked', reason: 'token_revoked', fingerprint: tokenFingerprint(revoked) },
      { outcome: 'refused', reason: 'signature_invalid', fingerprint: tokenFingerprint(forged) },
      { outcome: 'allowed', ...caller },
      { outcome: 'step_up', tools: ['purge'], scopes: ['notes:admin'], ...caller },
    ])
    t.equal(app.events().length, 8)
    for (const token of [reader, revoked, forged]) t.notOk(app.text().includes(token), 'no token in the log')
  })

  t.test(`${name}: off by default`, async (t) => {
    const app = await start(new MemoryDenyList(), undefined)
    t.teardown(app.close)
    t.equal(await app.send('/notes', await kit.mint({ scope: 'notes:read' })), 200)
    t.equal(await app.send('/notes'), 401)
    t.same(app.events(), [])
  })
}

t.test('fastify: auditLog takes a level', async (t) => {
  const app = await fastifyApp(new MemoryDenyList(), 'warn')
  t.teardown(app.close)
  t.equal(await app.send('/notes'), 401)
  t.match(app.events(), [{ outcome: 'refused', level: 40 }], 'written at warn (pino level 40)')
})

t.test('options are validated, naming the owner', async (t) => {
  const app = Fastify()
  await t.rejects(
    async () =>
      app
        .register(fastifyPortcullis, { ...notesGateOptions(kit, jwtVerifier), auditLog: 'loud' as never })
        .ready(),
    /@portcullis\/fastify: option "auditLog"/,
  )
  t.throws(
    () => expressPortcullis({ ...notesGateOptions(kit, jwtVerifier), onAudit: 'console' as never }),
    /@portcullis\/express: option "onAudit": must be a function/,
  )
})
