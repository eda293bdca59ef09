import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { withScopes } from '@portcullis/core'
import { mcpRoute, portcullis } from '@portcullis/express'
import { tokenKit } from '@portcullis/test-kit'
import express from 'express'
import t from 'tap'
import { z } from 'zod'
import { listen, notesOptions } from './fixtures/app.js'

// The Express MCP route: how it is mounted and what only Express can get wrong. The MCP behaviour
// itself (scopes per tool, lists, sessions, both SDK lines) runs against both adapters in
// test/mcp-notes-server.test.ts.

const kit = await tokenKit()
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] })
const call = (name: string, id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: { v: 'x' } },
})
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

/** A 1.x server whose `write` tool needs notes:write and counts its runs; `read` needs notes:read. */
function countingServer(runs: { count: number }) {
  return () => {
    const server = new McpServer({ name: 'count', version: '1.0.0' })
    withScopes(server, 'notes:write').registerTool(
      'write',
      { inputSchema: { v: z.string() } },
      async ({ v }) => {
        runs.count++
        return text(v)
      },
    )
    withScopes(server, 'notes:read').registerTool('read', {}, async () => text('notes'))
    withScopes(server).registerTool('ping', {}, async () => text('pong'))
    return server
  }
}

async function mcpApp(options: Parameters<typeof mcpRoute>[1], gate = {}) {
  const auth = portcullis(notesOptions(kit, gate))
  const app = express()
  app.use(auth)
  const mcp = await mcpRoute(auth, options)
  app.use(mcp)
  const server = await listen(app)
  return {
    server,
    mcp,
    url: `${server.url}/mcp`,
    close: async () => {
      await mcp.close()
      await server.close()
    },
  }
}

t.test('a tools/call beyond the token: 403 before the tool runs; with the scope it runs', async (t) => {
  const runs = { count: 0 }
  const app = await mcpApp({
    server: countingServer(runs),
    transport: StreamableHTTPServerTransport,
    sessions: false,
  })
  t.teardown(app.close)
  const reader = { authorization: `Bearer ${await kit.mint({ scope: 'notes:read' })}` }
  // A browser client (it sends Origin) can read the step-up challenge.
  const denied = await app.server.request(
    'POST',
    '/mcp',
    { ...JSON_HEADERS, ...reader, origin: 'https://inspector.example' },
    JSON.stringify(call('write')),
  )
  t.equal(denied.status, 403)
  t.match(
    denied.headers['www-authenticate'],
    /error="insufficient_scope", error_description="Tool write requires the scope notes:write", scope="notes:write"/,
  )
  t.same(denied.json(), {
    error: 'insufficient_scope',
    error_description: 'Tool write requires the scope notes:write',
  })
  t.equal(denied.headers['access-control-allow-origin'], '*')
  t.equal(
    denied.headers['access-control-expose-headers'],
    'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After',
  )
  t.equal(runs.count, 0)

  const writer = { authorization: `Bearer ${await kit.mint({ scope: 'notes:write' })}` }
  const allowed = await app.server.request(
    'POST',
    '/mcp',
    { ...JSON_HEADERS, ...writer },
    JSON.stringify(call('write')),
  )
  t.equal(allowed.status, 200)
  t.equal(runs.count, 1)
})

t.test('a body no JSON parser read never reaches the SDK unchecked: the SDK gets null', async (t) => {
  const seen: unknown[] = []
  const app = await mcpApp({
    server: countingServer({ count: 0 }),
    // Records the body the route hands over, as the SDK would receive it.
    handler: () => async (_req, res, parsedBody) => {
      seen.push(parsedBody)
      res.end()
    },
  })
  t.teardown(app.close)
  const reader = { authorization: `Bearer ${await kit.mint({ scope: 'notes:read' })}` }
  // Earlier 1.x SDKs took any content type containing "application/json"; body-parser does not
  // parse this one. Had the SDK read the body itself, its scopes would not have been checked.
  const sneaky = { 'content-type': 'text/plain; x=application/json', accept: JSON_HEADERS.accept, ...reader }
  t.equal((await app.server.request('POST', '/mcp', sneaky, JSON.stringify(call('write')))).status, 200)
  t.equal(
    (await app.server.request('POST', '/mcp', { ...JSON_HEADERS, ...reader }, JSON.stringify(call('read'))))
      .status,
    200,
  )
  t.strictSame(seen, [null, call('read')])
})

t.test('the route authenticates by itself where the middleware leaves requests open', async (t) => {
  const runs = { count: 0 }
  const app = await mcpApp(
    { server: countingServer(runs), transport: StreamableHTTPServerTransport, sessions: false },
    { routes: 'declared' },
  )
  t.teardown(app.close)
  const anonymous = await app.server.request('POST', '/mcp', JSON_HEADERS, JSON.stringify(call('ping')))
  t.equal(anonymous.status, 401)
  t.match(anonymous.headers['www-authenticate'], /^Bearer scope="notes:read", resource_metadata=/)
  const token = { authorization: `Bearer ${await kit.mint()}` }
  const ok = await app.server.request(
    'POST',
    '/mcp',
    { ...JSON_HEADERS, ...token },
    JSON.stringify(call('ping')),
  )
  t.equal(ok.status, 200)
})

t.test('a preflight to the MCP endpoint allows its methods', async (t) => {
  const app = await mcpApp({ server: countingServer({ count: 0 }), transport: StreamableHTTPServerTransport })
  t.teardown(app.close)
  const pre = await app.server.request('OPTIONS', '/mcp', {
    origin: 'https://inspector.example',
    'access-control-request-method': 'DELETE',
  })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-methods'], 'POST, GET, DELETE, OPTIONS, HEAD')
})

t.test('a failing MCP server: 500 JSON-RPC error, reported to onError', async (t) => {
  const failures: unknown[] = []
  const app = await mcpApp({
    server: () => {
      throw new Error('cannot build the server')
    },
    transport: StreamableHTTPServerTransport,
    sessions: false,
    probe: false,
    checkScopesSupported: false,
    onError: (error) => failures.push(error),
  })
  t.teardown(app.close)
  const token = { authorization: `Bearer ${await kit.mint()}` }
  const answer = await app.server.request(
    'POST',
    '/mcp',
    { ...JSON_HEADERS, ...token },
    JSON.stringify(call('ping')),
  )
  t.equal(answer.status, 500)
  t.same(answer.json(), { jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null })
  t.equal(failures.length, 1)
  t.match((failures[0] as Error).message, 'cannot build the server')
})

t.test('close() ends the open sessions', async (t) => {
  const app = await mcpApp({ server: countingServer({ count: 0 }), transport: StreamableHTTPServerTransport })
  t.teardown(() => app.server.close())
  const token = await kit.mint()
  const client = new Client({ name: 'close-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(app.url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  })
  await client.connect(transport)
  const headers = {
    ...JSON_HEADERS,
    authorization: `Bearer ${token}`,
    'mcp-session-id': transport.sessionId!,
    'mcp-protocol-version': transport.protocolVersion!,
  }
  const list = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' })
  t.equal((await app.server.request('POST', '/mcp', headers, list)).status, 200)
  await app.mcp.close()
  const after = await app.server.request('POST', '/mcp', headers, list)
  t.equal(after.status, 404)
  t.same(after.json(), { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null })
  await client.close().catch(() => {})
})

t.test('misconfiguration fails when the route is made, naming the route', async (t) => {
  const auth = portcullis(notesOptions(kit))
  await t.rejects(
    mcpRoute((() => {}) as never, {
      server: countingServer({ count: 0 }),
      transport: StreamableHTTPServerTransport,
    }),
    /@portcullis\/express mcpRoute: the first argument must be the middleware portcullis\(\) returned/,
  )
  await t.rejects(
    mcpRoute(auth, { server: 'no' as never, transport: StreamableHTTPServerTransport }),
    /@portcullis\/express mcpRoute: option "server": must be a function that returns an MCP server/,
  )
  await t.rejects(
    mcpRoute(auth, {
      server: countingServer({ count: 0 }),
      onError: 1 as never,
      transport: StreamableHTTPServerTransport,
    }),
    /option "onError": must be a function/,
  )
  await t.rejects(
    mcpRoute(auth, {
      server: () => {
        throw new Error('needs a caller')
      },
      transport: StreamableHTTPServerTransport,
    }),
    /@portcullis\/express mcpRoute: the server factory failed when called at startup/,
  )
  const advertised = portcullis(notesOptions(kit, { scopes: { base: ['notes:read', 'files:read'] } }))
  await t.rejects(
    mcpRoute(advertised, { server: countingServer({ count: 0 }), transport: StreamableHTTPServerTransport }),
    /scopes_supported advertises files:read, which no tool, prompt or resource needs/,
  )
})
