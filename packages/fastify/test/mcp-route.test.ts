import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node'
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import { parseChallenges } from '@portcullis/core'
import portcullis, { mcpRoute, withScopes } from '@portcullis/fastify'
import { tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { notesOptions } from './fixtures/app.js'
import { libraryServer } from './fixtures/library-server.js'
import { client, mcpApp, names, post } from './fixtures/mcp-app.js'

const kit = await tokenKit()
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] })
const scopeOf = (response: Response) =>
  parseChallenges(response.headers.get('www-authenticate') ?? '')[0]?.params.scope

t.test('prompts/get, resources/read by URI and by template: 403 before the SDK', async (t) => {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    scopes: { tools: { vendor_export: ['reports:read'] } },
  })
  t.teardown(() => app.close())
  const reader = await kit.mint({ scope: 'notes:read' })
  const c = await client(url, reader)
  t.teardown(() => c.close())
  const session = { 'mcp-session-id': c.http.sessionId!, 'mcp-protocol-version': c.http.protocolVersion! }

  t.same((await c.getPrompt({ name: 'summary' })).messages.length, 1)
  t.same((await c.readResource({ uri: 'notes://all' })).contents, [{ uri: 'notes://all', text: 'all notes' }])

  const history = await post(
    url,
    reader,
    { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'notes://7/history' } },
    session,
  )
  t.equal(history.status, 403)
  t.equal(scopeOf(history), 'notes:admin')
  t.same(await history.json(), {
    error: 'insufficient_scope',
    error_description: 'Resource notes://7/history requires the scope notes:admin',
  })

  const profile = await kit.mint({ scope: 'profile' })
  const prompt = await post(
    url,
    profile,
    { jsonrpc: '2.0', id: 2, method: 'prompts/get', params: { name: 'summary' } },
    session,
  )
  t.equal(prompt.status, 403, 'the same principal with other scopes: its session, but not the prompt')
  t.equal(scopeOf(prompt), 'notes:read')
  await prompt.body?.cancel()
})

t.test('tools you do not own: the route map and the default for undeclared ones', async (t) => {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    sessions: false,
    scopes: { tools: { vendor_export: ['reports:read'] }, undeclared: ['mcp:tools'] },
  })
  t.teardown(() => app.close())
  const token = await kit.mint({ scope: 'notes:admin' })
  const call = (name: string) =>
    post(url, token, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } })
  const exported = await call('vendor_export')
  t.equal(exported.status, 403)
  t.equal(scopeOf(exported), 'reports:read')
  await exported.body?.cancel()
  const other = await call('vendor_other')
  t.equal(other.status, 403)
  t.equal(scopeOf(other), 'mcp:tools', 'undeclared: the default applies')
  await other.body?.cancel()
  const declared = await call('ping')
  t.equal(declared.status, 200, 'declared open: no default')
  await declared.body?.cancel()
})

t.test('stateless serving: a fresh server per request, no session, GET is 405', async (t) => {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    sessions: false,
  })
  t.teardown(() => app.close())
  const token = await kit.mint({ scope: 'notes:write' })
  const c = await client(url, token)
  t.equal(c.http.sessionId, undefined)
  t.same(names((await c.listTools()).tools), ['ping', 'vendor_export', 'vendor_other', 'write'])
  t.same((await c.callTool({ name: 'write', arguments: { v: 'hi' } })).content, [
    { type: 'text', text: 'hi' },
  ])
  await c.close()
  const get = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } })
  t.equal(get.status, 405)
  t.equal(get.headers.get('allow'), 'POST')
  t.same(await get.json(), {
    jsonrpc: '2.0',
    error: { code: -32000, message: 'Method not allowed.' },
    id: null,
  })
})

t.test('without the startup probe the handler itself refuses, then the route knows', async (t) => {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    sessions: false,
    probe: false,
    checkScopesSupported: false,
  })
  t.teardown(() => app.close())
  const reader = await kit.mint({ scope: 'notes:read' })
  const body = {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'write', arguments: { v: 'x' } },
  }
  const first = await post(url, reader, body)
  t.equal(first.status, 200, 'the route had not seen the declaration yet')
  const text = await first.text()
  t.match(text, /"isError":true/)
  t.match(
    text,
    /Insufficient scope: tool write requires notes:write/,
    'the guarded handler did not run the tool',
  )
  const second = await post(url, reader, body)
  t.equal(second.status, 403, 'declared by the first request: now answered before the SDK')
  await second.body?.cancel()
})

t.test('2.x sessions: NodeStreamableHTTPServerTransport, bound to the caller', async (t) => {
  const build = () => {
    const server = new McpServerV2({ name: 'v2', version: '1.0.0' })
    withScopes(server, 'notes:read').registerTool('read', {}, async () => text('read'))
    withScopes(server, 'notes:admin').registerTool('admin', {}, async () => text('admin'))
    return server
  }
  const { app, url } = await mcpApp(kit, { server: build, transport: NodeStreamableHTTPServerTransport })
  t.teardown(() => app.close())
  const alice = await client(url, await kit.mint({ scope: 'notes:read' }))
  t.teardown(() => alice.close())
  t.type(alice.http.sessionId, 'string')
  t.same(names((await alice.listTools()).tools), ['admin', 'read'], 'read, and admin to step up to')
  const headers = {
    'mcp-session-id': alice.http.sessionId!,
    'mcp-protocol-version': alice.http.protocolVersion!,
  }
  const bob = await post(
    url,
    await kit.mint({ sub: 'bob', scope: 'notes:admin' }),
    { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    headers,
  )
  t.equal(bob.status, 404)
  t.same(await bob.json(), {
    jsonrpc: '2.0',
    error: { code: -32001, message: 'Session not found' },
    id: null,
  })
})

t.test('a 2026-07-28 list depends on the caller: never cached publicly', async (t) => {
  const { createMcpHandler } = await import('@modelcontextprotocol/server')
  const { toNodeHandler } = await import('@modelcontextprotocol/node')
  const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client')
  const build = () => {
    // The operator asked for shared caching of tools/list; a list shaped per caller must not get it.
    const server = new McpServerV2(
      { name: 'v2', version: '1.0.0' },
      { cacheHints: { 'tools/list': { cacheScope: 'public', ttlMs: 60_000 } } },
    )
    withScopes(server, 'notes:read').registerTool('read', {}, async () => text('read'))
    withScopes(server, 'notes:admin').registerTool('admin', {}, async () => text('admin'))
    return server
  }
  const { app, url } = await mcpApp(kit, {
    server: build,
    handler: (factory) => toNodeHandler(createMcpHandler(factory)),
  })
  t.teardown(() => app.close())
  const bodies: string[] = []
  const c = new Client(
    { name: 'modern', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  )
  const token = await kit.mint({ scope: 'notes:read' })
  await c.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      authProvider: { token: async () => token },
      fetch: async (input, init) => {
        const response = await fetch(input, init)
        bodies.push(await response.clone().text())
        return response
      },
    }),
  )
  t.teardown(() => c.close())
  t.same(names((await c.listTools()).tools), ['admin', 'read'])
  const listed = bodies.find((body) => body.includes('"tools"'))
  t.ok(listed, 'the tools/list answer was seen')
  t.match(listed, /"cacheScope":"private"/)
  t.notMatch(listed, /"cacheScope":"public"/)
})

t.test('hijacked replies keep CORS: browsers can read Mcp-Session-Id and WWW-Authenticate', async (t) => {
  const { app, url } = await mcpApp(kit, { server: libraryServer, transport: StreamableHTTPServerTransport })
  t.teardown(() => app.close())
  const response = await post(
    url,
    await kit.mint({ scope: 'notes:read' }),
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'browser', version: '1' },
      },
    },
    { origin: 'https://inspector.example' },
  )
  t.equal(response.status, 200)
  t.type(response.headers.get('mcp-session-id'), 'string')
  t.equal(response.headers.get('access-control-allow-origin'), '*')
  t.match(response.headers.get('access-control-expose-headers'), /Mcp-Session-Id/)
  t.match(response.headers.get('access-control-expose-headers'), /WWW-Authenticate/)
  await response.body?.cancel()
})

t.test('a body too large to inspect and malformed bodies', async (t) => {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    sessions: false,
    maxBatch: 2,
  })
  t.teardown(() => app.close())
  const token = await kit.mint({ scope: 'notes:admin' })
  const call = (id: number) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'ping', arguments: {} },
  })
  const big = await post(url, token, [call(1), call(2), call(3)])
  t.equal(big.status, 413)
  t.same(await big.json(), {
    jsonrpc: '2.0',
    error: { code: -32600, message: 'A JSON-RPC batch of more than 2 messages' },
    id: null,
  })
  for (const body of [
    '"text"',
    '42',
    '[]',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}',
  ]) {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body,
    })
    t.ok(response.status < 500, `${body}: ${response.status}, answered by the SDK, not a crash`)
    t.not(response.status, 403, `${body}: nothing to authorize`)
    await response.body?.cancel()
  }
})

t.test('options are checked at register time with errors that name them', async (t) => {
  const app = async () => {
    const instance = Fastify()
    await instance.register(portcullis, notesOptions(kit))
    return instance
  }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'no transport or handler',
      { server: libraryServer },
      /give a transport class \(transport\) or a handler/,
    ],
    [
      'sessions without transport',
      { server: libraryServer, handler: () => async () => {}, sessions: true },
      /option "sessions"/,
    ],
    [
      'reserved transport option',
      {
        server: libraryServer,
        transport: StreamableHTTPServerTransport,
        transportOptions: { sessionIdGenerator: () => 'x' },
      },
      /option "transportOptions".*sessionIdGenerator/,
    ],
    [
      'bad scope in the map',
      {
        server: libraryServer,
        transport: StreamableHTTPServerTransport,
        scopes: { tools: { a: ['two words'] } },
      },
      /option "scopes.tools.a/,
    ],
    ['server not a function', { server: {}, transport: StreamableHTTPServerTransport }, /option "server"/],
    [
      'unknown option',
      { server: libraryServer, transport: StreamableHTTPServerTransport, sesions: false },
      /sesions/,
    ],
  ]
  for (const [what, options, message] of cases) {
    const instance = await app()
    await t.rejects(async () => instance.register(mcpRoute, options as never).ready(), { message }, what)
    await instance.close()
  }
  const bare = Fastify()
  await t.rejects(
    async () =>
      bare.register(mcpRoute, { server: libraryServer, transport: StreamableHTTPServerTransport }).ready(),
    { message: /register the portcullis plugin first/ },
  )
})

t.test('scopes_supported cannot drift from the declarations', async (t) => {
  const only = () => {
    const server = new McpServerV1({ name: 'x', version: '1' })
    withScopes(server, 'files:read').registerTool('files', {}, async () => text('f'))
    return server
  }
  const instance = Fastify()
  await instance.register(portcullis, notesOptions(kit))
  await t.rejects(
    async () =>
      instance.register(mcpRoute, { server: only, transport: StreamableHTTPServerTransport }).ready(),
    {
      message:
        /scopes_supported advertises notes:read, which no tool, prompt or resource needs \(declared: files:read\)/,
    },
  )
  await instance.close()

  const relaxed = Fastify()
  await relaxed.register(portcullis, notesOptions(kit))
  await relaxed.register(mcpRoute, {
    server: only,
    transport: StreamableHTTPServerTransport,
    checkScopesSupported: false,
  })
  await relaxed.ready()
  await relaxed.close()
  t.pass('checkScopesSupported: false allows it')
})

t.test('the startup probe reports a factory that needs a caller', async (t) => {
  const instance = Fastify()
  await instance.register(portcullis, notesOptions(kit))
  const picky = (context: { authInfo?: unknown }) => {
    if (context.authInfo === undefined) throw new Error('who is asking?')
    return libraryServer()
  }
  await t.rejects(
    async () =>
      instance.register(mcpRoute, { server: picky, transport: StreamableHTTPServerTransport }).ready(),
    {
      message:
        /the server factory failed when called at startup without a caller .*who is asking\?.*probe: false/,
    },
  )
  await instance.close()
})

t.test('conflicting declarations of one tool fail at startup', async (t) => {
  const instance = Fastify()
  await instance.register(portcullis, notesOptions(kit))
  await t.rejects(
    async () =>
      instance
        .register(mcpRoute, {
          server: libraryServer,
          transport: StreamableHTTPServerTransport,
          scopes: { tools: { write: ['notes:admin'] } },
        })
        .ready(),
    { message: /tool "write" is declared with \[notes:admin\]; it cannot also need \[notes:write\]/ },
  )
  await instance.close()
})

t.test('the 403 description names one target once, and a long client-chosen name only in part', async (t) => {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    sessions: false,
    scopes: { undeclared: ['mcp:tools'] },
  })
  t.teardown(() => app.close())
  const token = await kit.mint({ scope: 'notes:read' })
  const call = (id: number, name: string) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: {} },
  })
  const twice = await post(url, token, [call(1, 'write'), call(2, 'write')])
  t.same(await twice.json(), {
    error: 'insufficient_scope',
    error_description: 'Tool write requires the scope notes:write',
  })
  const long = 'x'.repeat(5000)
  const response = await post(url, token, call(1, long))
  t.equal(response.status, 403)
  const { error_description } = (await response.json()) as { error_description: string }
  t.equal(error_description, `Tool ${'x'.repeat(77)}... requires the scope mcp:tools`)
  t.ok((response.headers.get('www-authenticate') ?? '').length < 400, 'the challenge stays short')
})
