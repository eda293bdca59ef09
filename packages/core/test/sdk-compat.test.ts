// Pins the MCP SDK internals `src/mcp/sdk-compat.ts` relies on, per supported SDK line, against
// the installed SDK. When a release moves one, these fail naming the field and the version.
import { readFileSync } from 'node:fs'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer as McpServer1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import {
  McpServer as McpServer2,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server'
import { createGate, mcpScopeRegistry } from '@portcullis/core'
import {
  createMcpEndpoint,
  hostServer,
  McpSdkInternalsError,
  mcpListingPolicy,
  mcpScopeRules,
  mcpSdkLineOf,
  supportsScopeChallenge,
  wrapRequestHandlers,
} from '@portcullis/core/adapter'
import t from 'tap'

const versionOf = (name: string): string =>
  JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version

const LINES = [
  {
    line: '@modelcontextprotocol/sdk 1.x',
    version: `@modelcontextprotocol/sdk ${versionOf('@modelcontextprotocol/sdk')}`,
    make: () => new McpServer1({ name: 'pinned', version: '1' }),
    scopeChallenge: false,
  },
  {
    line: '@modelcontextprotocol/server 2.x',
    version: `@modelcontextprotocol/server ${versionOf('@modelcontextprotocol/server')}`,
    make: () => new McpServer2({ name: 'pinned', version: '1' }),
    scopeChallenge: true,
  },
] as const

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] })

for (const sdk of LINES) {
  t.test(`${sdk.version}: the internals sdk-compat.ts relies on are where it expects them`, async (t) => {
    const server = sdk.make() as unknown as McpServer1
    server.registerTool('first', {}, async () => text('1'))
    const protocol = (server as unknown as { server: Record<string, unknown> }).server
    const pin = (ok: boolean, field: string) =>
      t.ok(ok, `${sdk.version}: ${field} changed; update src/mcp/sdk-compat.ts for this SDK version`)
    pin(protocol._requestHandlers instanceof Map, 'McpServer.server._requestHandlers (a Map)')
    pin(
      (protocol._requestHandlers as Map<string, unknown>).has('tools/list'),
      'McpServer.server._requestHandlers holding tools/list',
    )
    pin(typeof protocol.setRequestHandler === 'function', 'McpServer.server.setRequestHandler')
    t.equal(mcpSdkLineOf(server), sdk.line, `${sdk.version}: told apart by McpServer.server._wrapHandler`)
    t.equal(
      supportsScopeChallenge(server),
      sdk.scopeChallenge,
      `${sdk.version}: McpServer.resolveScopeChallenge (the scopeChallenge hook of 2.1+)`,
    )
  })

  t.test(`${sdk.version}: wrapped list handlers are the ones served, now and for later ones`, async (t) => {
    const server = sdk.make() as unknown as McpServer1
    server.registerTool('first', {}, async () => text('1'))
    const seen: string[] = []
    wrapRequestHandlers(
      server,
      ['tools/list', 'prompts/list'],
      (method, handler) => async (request, context) => {
        seen.push(method)
        const result = (await handler(request, context)) as { tools?: unknown[] }
        return result
      },
      'test',
    )
    // Registered after wrapping: McpServer installs prompts/list now, through setRequestHandler.
    server.registerPrompt('later', {}, async () => ({ messages: [] }))
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    const client = new Client({ name: 'c', version: '1' })
    await server.connect(serverSide as never)
    await client.connect(clientSide)
    t.teardown(() => client.close())
    t.same(
      (await client.listTools()).tools.map((tool) => tool.name),
      ['first'],
    )
    t.same(
      (await client.listPrompts()).prompts.map((prompt) => prompt.name),
      ['later'],
    )
    t.same(
      seen,
      ['tools/list', 'prompts/list'],
      `${sdk.version}: the handler table is what the SDK dispatches`,
    )
  })
}

t.test('a server without the handler table fails loudly, naming the field and the SDK line', async (t) => {
  const rules = mcpScopeRules()
  const listing = mcpListingPolicy(rules, 'granted')
  t.throws(() => hostServer({ server: { setRequestHandler() {} } }, rules, { listing, owner: 'mcpRoute' }), {
    name: 'McpSdkInternalsError',
    message:
      /^mcpRoute: .*McpServer\.server\._requestHandlers \(a Map\) is missing .*neither @modelcontextprotocol\/sdk 1\.x nor @modelcontextprotocol\/server 2\.x/,
  })
  const noSetter2x = { server: { _requestHandlers: new Map(), _wrapHandler() {} } }
  t.throws(() => hostServer(noSetter2x, rules, { listing }), {
    message:
      /McpServer\.server\.setRequestHandler \(a method\) is missing .*@modelcontextprotocol\/server 2\.x/,
  })
  const noSetter1x = { _requestHandlers: new Map() }
  const error = t.throws(() => hostServer(noSetter1x, rules, { listing }))
  t.ok(error instanceof McpSdkInternalsError)
  t.equal((error as McpSdkInternalsError).field, 'Server.setRequestHandler (a method)')
  t.equal((error as McpSdkInternalsError).line, '@modelcontextprotocol/sdk 1.x')
})

t.test('2.x: withScopes fills the SDK scopeChallenge hook, so its own transport challenges', async (t) => {
  const registry = mcpScopeRegistry()
  const rules = mcpScopeRules({ implies: { 'notes:admin': ['notes:write'] } })
  // A stateless transport serves one request: a fresh server and transport per call.
  const call = async (name: string, scopes: string[]) => {
    const server = new McpServer2({ name: 'notes', version: '1' })
    registry
      .withScopes(server, 'notes:write')
      .registerTool('add', { scopeChallenge: () => ({ scopes: ['never:asked'] }) }, async () => text('added'))
    registry.withScopes(server).registerTool('open', {}, async () => text('open'))
    hostServer(server, rules, { listing: undefined, registry })
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    })
    await server.connect(transport)
    t.teardown(() => server.close())
    return transport.handleRequest(
      new Request('http://127.0.0.1/mcp', {
        method: 'POST',
        headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name, arguments: {} },
        }),
      }),
      { authInfo: { token: 'x', clientId: 'app', scopes } },
    )
  }
  const refused = await call('add', ['notes:read'])
  t.equal(refused.status, 403)
  t.match(refused.headers.get('www-authenticate'), /error="insufficient_scope"/)
  t.match(refused.headers.get('www-authenticate'), /scope="notes:write"/, 'the route rules name the scope')
  const implied = await call('add', ['notes:admin'])
  t.equal(implied.status, 403, 'rules satisfied: the challenge the config already had still runs')
  t.match(implied.headers.get('www-authenticate'), /scope="never:asked"/)
  const open = await call('open', [])
  t.equal(open.status, 200)
})

t.test('a route whose server lacks the SDK internals refuses to start, naming the field', async (t) => {
  const gate = createGate({
    resource: 'https://mcp.example.com/mcp',
    authorizationServers: ['https://id.example.com'],
    verifier: { verifyAccessToken: async () => Promise.reject(new Error('unused')) },
  })
  let closed = false
  const notAnSdkServer = {
    connect: async () => {},
    close: async () => {
      closed = true
    },
  }
  await t.rejects(
    createMcpEndpoint(gate, { server: () => notAnSdkServer, handler: () => async () => {} }, 'mcpRoute'),
    { name: 'McpSdkInternalsError', message: /^mcpRoute: .*_requestHandlers/ },
  )
  t.ok(closed, 'the probe server is closed all the same')
  const started = await createMcpEndpoint(
    gate,
    { server: () => new McpServer2({ name: 'ok', version: '1' }), handler: () => async () => {} },
    'mcpRoute',
  )
  t.equal(started.path, '/mcp', 'an SDK server starts')
  await started.close()
})
