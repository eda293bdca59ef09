import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { withScopes } from '@portcullis/core'
import portcullis, { mcpRoute } from '@portcullis/fastify'
import { text, tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { notesOptions } from './fixtures/app.js'
import { libraryServer } from './fixtures/library-server.js'

// What only the Fastify MCP route can get wrong: its checks at register time. The MCP behaviour
// that does not depend on the framework runs on both adapters in mcp-route-cases.test.ts.

const kit = await tokenKit()

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
