import { createServer, type Server } from 'node:http'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { parseChallenges, withScopes } from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import portcullis, { mcpRoute } from '@portcullis/fastify'
import { auth0 } from '@portcullis/idp'
import Fastify from 'fastify'
import t from 'tap'

// Per-tool scopes granted through Auth0 RBAC permissions: a real MCP SDK client, tokens from an
// Auth0-shaped dev IdP, the Auth0 preset spread into the Fastify plugin, and the MCP route.

const idp = await startDevIdp({ shape: 'auth0', resources: [] })
t.teardown(() => idp.close())

let server: Server | undefined
const app = Fastify({
  serverFactory: (handler) => {
    server = createServer(handler)
    return server
  },
})
await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
t.teardown(async () => {
  await app.close()
  server!.closeAllConnections()
  await new Promise((resolve) => server!.close(resolve))
})
const resource = `http://127.0.0.1:${(server!.address() as { port: number }).port}/mcp`
idp.addResource({ resource, scopes: ['notes:read', 'notes:write', 'notes:admin'] })

function notesServer() {
  const mcp = new McpServer({ name: 'notes', version: '1.0.0' })
  withScopes(mcp, 'notes:read').registerTool('read_notes', {}, async () => ({
    content: [{ type: 'text', text: 'three notes' }],
  }))
  withScopes(mcp, 'reports:export').registerTool('export_reports', {}, async () => ({
    content: [{ type: 'text', text: 'exported' }],
  }))
  return mcp
}

// Default dev users: alice holds the permission notes:admin, bob only notes:read.
const preset = auth0({
  domain: idp.url,
  audience: resource,
  roles: { 'notes:admin': ['reports:export'] },
  scopes: { base: ['notes:read'] },
})
await app.register(portcullis, { ...preset.options, resource })
await app.register(mcpRoute, {
  server: notesServer,
  transport: StreamableHTTPServerTransport,
  sessions: false,
  // Lists show what each role's scopes open (scope-filtered discovery), not what a step-up could.
  listing: 'granted',
})
await app.ready()

async function connect(token: string) {
  const client = new Client({ name: 'idp-test', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(resource), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  )
  return client
}

t.test('a permission mapped to a scope opens a tool; its absence is a 403 step-up', async (t) => {
  const alice = (await idp.userToken({ user: 'alice', resource, scope: 'notes:read' })).access_token
  const aliceClient = await connect(alice)
  t.teardown(() => aliceClient.close())
  t.same((await aliceClient.listTools()).tools.map((tool) => tool.name).sort(), [
    'export_reports',
    'read_notes',
  ])
  t.same((await aliceClient.callTool({ name: 'export_reports', arguments: {} })).content, [
    { type: 'text', text: 'exported' },
  ])

  const bob = (await idp.userToken({ user: 'bob', resource, scope: 'notes:read' })).access_token
  const bobClient = await connect(bob)
  t.teardown(() => bobClient.close())
  t.same(
    (await bobClient.listTools()).tools.map((tool) => tool.name),
    ['read_notes'],
    'only what bob may call',
  )
  const denied = await fetch(resource, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${bob}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'export_reports', arguments: {} },
    }),
  })
  t.equal(denied.status, 403)
  const challenge = parseChallenges(denied.headers.get('www-authenticate') ?? '')[0]
  t.equal(challenge?.params.error, 'insufficient_scope')
  t.equal(challenge?.params.scope, 'reports:export')
  await denied.body?.cancel()
})
