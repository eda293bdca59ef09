import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import type { Test } from 'tap'
import { libraryServer, text, type WithScopes } from './library-server.js'
import { clientV1 as client, mcpPost as post, toolNames } from './mcp-clients.js'
import { type TokenKit, tokenKit } from './tokens.js'

/**
 * The options of an MCP route that the cases use: a subset of `McpRouteOptions` of `@portcullis/core`.
 * The server factory, transport class and handler are `any` here because the kit cannot name core's
 * types; the adapter's `mcpApp` checks them at run time (an unknown option is refused there too).
 */
export interface McpRouteCaseOptions {
  server: (context: any) => any
  transport?: any
  handler?: (factory: any) => any
  sessions?: boolean
  probe?: boolean
  checkScopesSupported?: boolean
  maxBatch?: number
  scopes?: { tools?: Record<string, string[]>; undeclared?: string[] }
}

/** What the MCP route cases need of the adapter under test. */
export interface McpRouteHarness {
  /** The adapter's gate for the notes resource (signed by `kit`) and an MCP route, on 127.0.0.1. */
  mcpApp(
    kit: TokenKit,
    route: McpRouteCaseOptions,
  ): Promise<{ app: { close(): PromiseLike<unknown> }; url: string }>
  /** `withScopes` of `@portcullis/core`. */
  withScopes: WithScopes
  /** `parseChallenges` of `@portcullis/core`. */
  parseChallenges(value: string): ReadonlyArray<{ params: Record<string, string> }>
}

/**
 * The MCP route's behaviour that does not depend on the web framework (scopes before the SDK,
 * tools you do not own, stateless and session serving on both SDK lines, CORS on hijacked replies,
 * bodies too large or malformed, the 403 description), run by each adapter's tests with its own
 * `mcpApp`: the same requests get the same answers on Fastify and on Express.
 */
export async function mcpRouteCases(t: Test, harness: McpRouteHarness): Promise<void> {
  const { mcpApp, withScopes } = harness
  const kit = await tokenKit()
  const library = () => libraryServer(withScopes)
  const scopeOf = (response: Response) =>
    harness.parseChallenges(response.headers.get('www-authenticate') ?? '')[0]?.params.scope

  t.test('prompts/get, resources/read by URI and by template: 403 before the SDK', async (t) => {
    const { app, url } = await mcpApp(kit, {
      server: library,
      transport: StreamableHTTPServerTransport,
      scopes: { tools: { vendor_export: ['reports:read'] } },
    })
    t.teardown(() => app.close())
    const reader = await kit.mint({ scope: 'notes:read' })
    const c = await client(url, reader)
    t.teardown(() => c.close())
    const session = { 'mcp-session-id': c.http.sessionId!, 'mcp-protocol-version': c.http.protocolVersion! }

    t.same((await c.getPrompt({ name: 'summary' })).messages.length, 1)
    t.same((await c.readResource({ uri: 'notes://all' })).contents, [
      { uri: 'notes://all', text: 'all notes' },
    ])

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
      server: library,
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
      server: library,
      transport: StreamableHTTPServerTransport,
      sessions: false,
    })
    t.teardown(() => app.close())
    const token = await kit.mint({ scope: 'notes:write' })
    const c = await client(url, token)
    t.equal(c.http.sessionId, undefined)
    t.same(toolNames(await c.listTools()), ['ping', 'vendor_export', 'vendor_other', 'write'])
    t.same((await c.callTool({ name: 'write', arguments: { v: 'hi' } })).content, [
      { type: 'text', text: 'hi' },
    ])
    await c.close()
    const get = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    })
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
      server: library,
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
    t.same(toolNames(await alice.listTools()), ['admin', 'read'], 'read, and admin to step up to')
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
    t.same(toolNames(await c.listTools()), ['admin', 'read'])
    const listed = bodies.find((body) => body.includes('"tools"'))
    t.ok(listed, 'the tools/list answer was seen')
    t.match(listed, /"cacheScope":"private"/)
    t.notMatch(listed, /"cacheScope":"public"/)
  })

  t.test('hijacked replies keep CORS: browsers can read Mcp-Session-Id and WWW-Authenticate', async (t) => {
    const { app, url } = await mcpApp(kit, { server: library, transport: StreamableHTTPServerTransport })
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
      server: library,
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

  t.test(
    'the 403 description names one target once, and a long client-chosen name only in part',
    async (t) => {
      const { app, url } = await mcpApp(kit, {
        server: library,
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
    },
  )
}
