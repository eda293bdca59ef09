// Finding 6 of the security review: sessions were capped per (issuer, subject, client), so one
// user who registered clients dynamically evicted everybody else's sessions (limits 10/5: two
// client ids turned alice's session into a 404). Now a caller's new sessions only displace its
// own (per principal and per subject), a full table gives up only idle sessions, and a newcomer
// that nothing can make room for is refused with 503 and Retry-After. On both adapters.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { type GateHealth, withScopes } from '@portcullis/core'
import { mcpRoute as expressMcpRoute, portcullis as expressPortcullis } from '@portcullis/express'
import portcullis, { mcpRoute } from '@portcullis/fastify'
import { mcpPost } from '@portcullis/test-kit'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { listenExpress, listenFastify, mintToken, reviewGateOptions } from './review-apps.js'

const LIMITS = { maxSessions: 10, maxSessionsPerPrincipal: 5, maxSessionsPerSubject: 5 }

const server = () => {
  const mcp = new McpServer({ name: 'sessions', version: '1.0.0' })
  withScopes(mcp).registerTool('ping', {}, async () => ({
    content: [{ type: 'text' as const, text: 'pong' }],
  }))
  return mcp
}
const routeOptions = {
  server,
  transport: StreamableHTTPServerTransport,
  sessions: LIMITS,
  transportOptions: { enableJsonResponse: true },
}

/** The MCP URL, and the gate's health (where the session table reports itself). */
interface Started {
  url: string
  health(): GateHealth
}

const adapters: Record<string, (t: Test) => Promise<Started>> = {
  async fastify(t) {
    const app = Fastify()
    await app.register(portcullis, reviewGateOptions())
    await app.register(mcpRoute, routeOptions)
    return {
      url: `http://127.0.0.1:${await listenFastify(t, app)}/mcp`,
      health: () => app.gate.health(),
    }
  },
  async express(t) {
    const app = express()
    const auth = expressPortcullis(reviewGateOptions())
    app.use(auth)
    const mcp = await expressMcpRoute(auth, routeOptions)
    t.teardown(() => mcp.close())
    app.use(mcp)
    return { url: `http://127.0.0.1:${await listenExpress(t, app)}/mcp`, health: () => auth.gate.health() }
  },
}

const post = (url: string, token: string, body: unknown, sessionId?: string) =>
  mcpPost(url, token, body, {
    'mcp-protocol-version': '2025-06-18',
    ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
  })

/** Opens a session for (sub, client); the session id, or the refusal. */
async function openSession(url: string, sub: string, client: string) {
  const token = mintToken({ sub, client_id: client })
  const response = await post(url, token, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: client, version: '1' } },
  })
  await response.arrayBuffer()
  const id = response.headers.get('mcp-session-id') ?? undefined
  if (id !== undefined) {
    const ready = await post(url, token, { jsonrpc: '2.0', method: 'notifications/initialized' }, id)
    await ready.arrayBuffer()
  }
  return { id, token, status: response.status, retryAfter: response.headers.get('retry-after') }
}

async function works(url: string, session: { id?: string; token: string }): Promise<number> {
  const response = await post(url, session.token, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, session.id)
  await response.arrayBuffer()
  return response.status
}

for (const [name, start] of Object.entries(adapters)) {
  t.test(`${name}: a flood of sessions from one subject through 50 clients`, async (t) => {
    const { url } = await start(t)
    const alice = await openSession(url, 'alice', 'notes-app')
    const bob = await openSession(url, 'bob', 'notes-app')
    t.ok(alice.id && bob.id, 'alice and bob have sessions')
    const mallory = []
    for (let i = 0; i < 50; i++) mallory.push(await openSession(url, 'mallory', `dcr-client-${i}`))
    t.equal(await works(url, alice), 200, "alice's session still works")
    t.equal(await works(url, bob), 200, "bob's session still works")
    const alive = []
    for (const session of mallory) if ((await works(url, session)) === 200) alive.push(session)
    t.equal(alive.length, 5, 'mallory keeps at most maxSessionsPerSubject sessions')
    t.same(alive, mallory.slice(-5), 'her most recent ones')
  })

  t.test(`${name}: a full table of live sessions refuses a newcomer with 503 and Retry-After`, async (t) => {
    const { url, health } = await start(t)
    const table = () => health().components.find((c) => c.component === 'mcp_sessions')
    t.match(
      table(),
      { name: '/mcp', status: 'ok', entries: 0 },
      "the route's session table is part of the gate's health",
    )
    const sessions = []
    for (let i = 0; i < LIMITS.maxSessions; i++)
      sessions.push(await openSession(url, `user-${i}`, 'notes-app'))
    t.ok(
      sessions.every((s) => s.id !== undefined),
      'ten users, ten sessions',
    )
    t.match(table(), { status: 'degraded', entries: 10, detail: '10 of 10 sessions' }, 'full: degraded')
    t.equal(health().status, 'degraded')
    t.equal(health().ready, true, 'still ready: live sessions and stateless requests are served')
    const newcomer = await openSession(url, 'late', 'notes-app')
    t.equal(newcomer.status, 503, 'refused')
    t.equal(newcomer.id, undefined, 'no session id')
    t.match(newcomer.retryAfter, /^[1-9][0-9]*$/, 'Retry-After')
    for (const session of sessions) t.equal(await works(url, session), 200, 'every live session still works')
    // The same user gets a new session by giving up one of their own, never someone else's.
    const again = await openSession(url, 'user-3', 'notes-app')
    t.ok(again.id, 'an existing user may open another session')
  })
}
