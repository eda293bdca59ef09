// Finding 4 of the security review: `subscriptions/listen` (2026-07-28) named resources in
// params.notifications.resourceSubscriptions that nothing checked, so a token without the scope
// `resources/read` demands for a URI got its updates. Every client method that names a tool,
// prompt, resource or resource template is now checked against the same declarations; the table
// of methods (MCP_CLIENT_METHODS) must classify every method the SDKs' schemas know.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import * as v2 from '@modelcontextprotocol/core'
import { toNodeHandler } from '@modelcontextprotocol/node'
import * as v1 from '@modelcontextprotocol/sdk/types.js'
import { createMcpHandler, McpServer, ResourceTemplate } from '@modelcontextprotocol/server'
import { parseChallenges, withScopes } from '@portcullis/core'
import { inspectMcpBody, MCP_CLIENT_METHODS, targetsOf } from '@portcullis/core/adapter'
import { mcpRoute as expressMcpRoute, portcullis as expressPortcullis } from '@portcullis/express'
import portcullis, { mcpRoute } from '@portcullis/fastify'
import { mcpPost } from '@portcullis/test-kit'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { listenExpress, listenFastify, mintToken, reviewGateOptions } from './review-apps.js'

/** The `method` literal of every member of a zod union of message schemas. */
function methodsOf(union: unknown): string[] {
  const options = (
    union as { options: Array<{ shape: { method: { value?: string; def?: { values?: string[] } } } }> }
  ).options
  return options.map((option) => option.shape.method.value ?? option.shape.method.def?.values?.[0] ?? '?')
}

t.test('every client method of both SDK lines is classified by MCP_CLIENT_METHODS', async (t) => {
  const schemas: Record<string, unknown> = {
    '1.x ClientRequestSchema': v1.ClientRequestSchema,
    '1.x ClientNotificationSchema': v1.ClientNotificationSchema,
    '2.x ClientRequestSchema': v2.ClientRequestSchema,
    '2.x ClientNotificationSchema': v2.ClientNotificationSchema,
  }
  let count = 0
  for (const [name, union] of Object.entries(schemas)) {
    for (const method of methodsOf(union)) {
      count++
      t.ok(Object.hasOwn(MCP_CLIENT_METHODS, method), `${name}: ${method} is classified`)
    }
  }
  t.ok(count >= 30, `the schemas list methods (${count})`)
  t.ok(
    methodsOf(v2.ClientRequestSchema).includes('subscriptions/listen'),
    'the 2.x line knows subscriptions/listen',
  )
})

t.test('every method classified `names` reads what it names; the others name nothing', async (t) => {
  const samples: Record<string, unknown> = {
    'tools/call': { name: 'tool', arguments: {} },
    'prompts/get': { name: 'prompt' },
    'resources/read': { uri: 'hr://salary/ceo' },
    'resources/subscribe': { uri: 'hr://salary/ceo' },
    'resources/unsubscribe': { uri: 'hr://salary/ceo' },
    'completion/complete': {
      ref: { type: 'ref/resource', uri: 'hr://salary/{person}' },
      argument: { name: 'person', value: 'c' },
    },
    'subscriptions/listen': { notifications: { resourceSubscriptions: ['hr://salary/ceo'] } },
  }
  for (const [method, kind] of Object.entries(MCP_CLIENT_METHODS)) {
    const named = targetsOf(method, samples[method] ?? { name: 'tool', uri: 'hr://salary/ceo' })
    if (kind === 'names') {
      t.ok('targets' in named && named.targets.length > 0, `${method} names something`)
    } else {
      t.same(named, { targets: [] }, `${method} names nothing`)
    }
  }
  t.same(
    inspectMcpBody({
      jsonrpc: '2.0',
      id: 1,
      method: 'subscriptions/listen',
      params: { notifications: { resourceSubscriptions: ['a://1', 'b://2', 'a://1'] } },
    }),
    {
      kind: 'messages',
      batch: false,
      messages: [
        {
          type: 'request',
          method: 'subscriptions/listen',
          targets: [
            { kind: 'resource', uri: 'a://1' },
            { kind: 'resource', uri: 'b://2' },
          ],
        },
      ],
    },
    'each URI once',
  )
})

// ---------------------------------------------------------------- through both adapters

function hrServer() {
  const server = new McpServer(
    { name: 'hr', version: '1.0.0' },
    { capabilities: { resources: { subscribe: true } } },
  )
  withScopes(server, 'hr:read').registerResource(
    'salary',
    new ResourceTemplate('hr://salary/{person}', { list: undefined }),
    {},
    async (uri) => ({ contents: [{ uri: uri.href, text: 'a lot' }] }),
  )
  withScopes(server, 'notes:read').registerResource('notes', 'notes://all', {}, async (uri) => ({
    contents: [{ uri: uri.href, text: 'notes' }],
  }))
  withScopes(server, 'hr:read').registerPrompt('review', {}, async () => ({
    messages: [{ role: 'user' as const, content: { type: 'text' as const, text: 'review' } }],
  }))
  return server
}

const routeOptions = {
  server: hrServer,
  handler: (factory: Parameters<typeof createMcpHandler>[0]) => toNodeHandler(createMcpHandler(factory)),
}
const gateOptions = () => reviewGateOptions({ scopes: { supported: ['notes:read', 'hr:read'] } })

const adapters: Record<string, (t: Test) => Promise<string>> = {
  async fastify(t) {
    const app = Fastify()
    await app.register(portcullis, gateOptions())
    await app.register(mcpRoute, routeOptions as never)
    return `http://127.0.0.1:${await listenFastify(t, app)}/mcp`
  },
  async express(t) {
    const app = express()
    const auth = expressPortcullis(gateOptions())
    app.use(auth)
    const mcp = await expressMcpRoute(auth, routeOptions as never)
    t.teardown(() => mcp.close())
    app.use(mcp)
    return `http://127.0.0.1:${await listenExpress(t, app)}/mcp`
  },
}

const rpc = (method: string, params: unknown) => ({ jsonrpc: '2.0', id: 1, method, params })
const listen = (uris: unknown) =>
  rpc('subscriptions/listen', { notifications: { resourceSubscriptions: uris } })

/** Requests a notes:read token may not make: each names hr://salary/... or the hr prompt. */
const FORBIDDEN: Array<[string, unknown]> = [
  ['subscriptions/listen for hr://salary/ceo', listen(['hr://salary/ceo'])],
  ['subscriptions/listen for an allowed URI and hr://salary/ceo', listen(['notes://all', 'hr://salary/ceo'])],
  [
    'subscriptions/listen with list_changed and hr://salary/ceo',
    rpc('subscriptions/listen', {
      notifications: { toolsListChanged: true, resourceSubscriptions: ['hr://salary/ceo'] },
    }),
  ],
  ['subscriptions/listen, the scheme in capitals', listen(['HR://salary/ceo'])],
  [
    'subscriptions/listen in a batch after an allowed request',
    [rpc('ping', {}), { ...listen(['hr://salary/ceo']), id: 2 }],
  ],
  ['resources/subscribe hr://salary/ceo', rpc('resources/subscribe', { uri: 'hr://salary/ceo' })],
  ['resources/unsubscribe hr://salary/ceo', rpc('resources/unsubscribe', { uri: 'hr://salary/ceo' })],
  ['resources/read hr://salary/ceo', rpc('resources/read', { uri: 'hr://salary/ceo' })],
  [
    'completion/complete for the hr template',
    rpc('completion/complete', {
      ref: { type: 'ref/resource', uri: 'hr://salary/{person}' },
      argument: { name: 'person', value: 'c' },
    }),
  ],
  [
    'completion/complete for the hr prompt',
    rpc('completion/complete', {
      ref: { type: 'ref/prompt', name: 'review' },
      argument: { name: 'x', value: 'y' },
    }),
  ],
  ['prompts/get review', rpc('prompts/get', { name: 'review' })],
]

const post = (url: string, token: string, body: unknown) =>
  mcpPost(url, token, body, { 'mcp-protocol-version': '2026-07-28' })

for (const [name, start] of Object.entries(adapters)) {
  t.test(`${name}: every method naming an hr resource or prompt needs hr:read`, async (t) => {
    const url = await start(t)
    const reader = mintToken({ scope: 'notes:read' })
    for (const [label, body] of FORBIDDEN) {
      const response = await post(url, reader, body)
      await response.arrayBuffer()
      t.equal(response.status, 403, `${label}: 403 before the SDK`)
      const header = response.headers.get('www-authenticate')
      t.ok(header, `${label}: a challenge`)
      const challenge = header === null ? undefined : parseChallenges(header)[0]
      t.equal(challenge?.params.error, 'insufficient_scope', `${label}: insufficient_scope`)
      t.match(challenge?.params.scope, /\bhr:read\b/, `${label}: asks for hr:read`)
    }
    const allowed = await post(url, reader, listen(['notes://all']))
    t.not(
      allowed.status,
      403,
      'subscriptions/listen for notes://all with notes:read is not refused by the gate',
    )
    await allowed.body?.cancel()
    const hr = await post(
      url,
      mintToken({ scope: 'notes:read hr:read' }),
      rpc('resources/unsubscribe', { uri: 'hr://salary/ceo' }),
    )
    t.not(hr.status, 403, 'with hr:read the same request goes to the SDK')
    await hr.body?.cancel()
  })

  t.test(`${name}: a 2026-07-28 client cannot listen to a resource it may not read`, async (t) => {
    const url = await start(t)
    const connect = async (scope: string) => {
      const token = mintToken({ scope })
      const client = new Client(
        { name: 'listener', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } },
      )
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), { authProvider: { token: async () => token } }),
      )
      t.teardown(() => client.close())
      return client
    }
    const reader = await connect('notes:read')
    await t.rejects(reader.listen({ resourceSubscriptions: ['hr://salary/ceo'] }), 'refused without hr:read')
    const manager = await connect('notes:read hr:read')
    const subscription = await manager.listen({ resourceSubscriptions: ['hr://salary/ceo'] })
    t.ok(subscription, 'with hr:read the listen stream opens')
    await subscription.close()
  })
}
