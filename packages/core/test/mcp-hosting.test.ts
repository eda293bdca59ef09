import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { createRequestStateCodec } from '@modelcontextprotocol/server'
import {
  authInfoFrom,
  mcpScopeRegistry,
  principalBinding,
  processScopeRegistry,
  withScopes,
} from '@portcullis/core'
import { hostServer, mcpListingPolicy, mcpScopeRules } from '@portcullis/core/adapter'
import t from 'tap'

const alice = {
  token: 't1',
  clientId: 'app',
  scopes: ['notes:read'],
  extra: { iss: 'https://idp', sub: 'alice' },
}

async function connected(server: McpServer) {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  const client = new Client({ name: 'c', version: '1' })
  await server.connect(serverSide)
  await client.connect(clientSide)
  return client
}

function notes() {
  const server = new McpServer({ name: 'notes', version: '1' })
  withScopes(server, 'notes:write').registerTool('add', {}, async () => ({
    content: [{ type: 'text', text: 'added' }],
  }))
  withScopes(server).registerTool('open', {}, async () => ({ content: [{ type: 'text', text: 'open' }] }))
  return server
}

t.test('a guarded tool does not run on a server no route hosts (fail closed)', async (t) => {
  const client = await connected(notes())
  t.teardown(() => client.close())
  const result = await client.callTool({ name: 'open', arguments: {} })
  t.equal(result.isError, true)
  t.match(result.content, [{ text: /tool open is not served behind the Portcullis MCP route/ }])
})

t.test(
  'a hosted server without a caller (stdio, in-memory) refuses scoped and open tools alike',
  async (t) => {
    const server = notes()
    const rules = mcpScopeRules()
    hostServer(server, rules, { listing: mcpListingPolicy(rules, 'granted') })
    const client = await connected(server)
    t.teardown(() => client.close())
    const result = await client.callTool({ name: 'add', arguments: {} })
    t.equal(result.isError, true)
    t.match(result.content, [{ text: /tool add needs an authenticated caller/ }])
    t.same(
      (await client.listTools()).tools.map((tool) => tool.name),
      ['open'],
      'no caller: only open tools are listed',
    )
  },
)

t.test('withScopes validates the scopes and the registration', async (t) => {
  const server = new McpServer({ name: 'x', version: '1' })
  t.throws(() => withScopes(server, 'two words'), { message: /withScopes/ })
  t.throws(() => withScopes(server, { anyOf: [] }), { message: /anyOf needs at least one scope/ })
  t.throws(() => withScopes(null as never), { message: /expected an McpServer/ })
  t.throws(() => (withScopes(server).registerTool as (...a: unknown[]) => unknown)('', {}, () => ({})), {
    message: /a tool needs a name/,
  })
  t.throws(() => (withScopes(server).registerTool as (...a: unknown[]) => unknown)('x', {}), {
    message: /needs a callback/,
  })
  const bare = withScopes({} as { registerTool(name: string, config: object, cb: () => void): void })
  t.throws(() => bare.registerTool('x', {}, () => {}), { message: /no registerTool method/ })
})

t.test('authInfoFrom reads the caller the way each SDK line hands it over', async (t) => {
  t.equal(authInfoFrom({ authInfo: alice }), alice, '1.x extra.authInfo')
  t.equal(authInfoFrom({ http: { authInfo: alice } }), alice, '2.x ctx.http.authInfo')
  t.equal(authInfoFrom({ http: {} }), undefined)
  t.equal(authInfoFrom({ authInfo: { clientId: 7 } }), undefined, 'not an AuthInfo')
  t.equal(authInfoFrom(undefined), undefined)
  t.equal(authInfoFrom('x'), undefined)
})

t.test('principalBinding ties a 2.x requestState to its principal', async (t) => {
  const codec = createRequestStateCodec<{ step: number }>({ key: 'k'.repeat(32), bind: principalBinding })
  const ctx = (auth: unknown) => ({ http: { authInfo: auth }, mcpReq: { method: 'tools/call' } }) as never
  const state = await codec.mint({ step: 2 }, ctx(alice))
  t.same(
    await codec.verify(state, ctx({ ...alice, token: 't2', scopes: ['notes:write'] })),
    { step: 2 },
    'same principal, new token',
  )
  await t.rejects(
    codec.verify(state, ctx({ ...alice, extra: { iss: 'https://idp', sub: 'bob' } })),
    'another user',
  )
  await t.rejects(codec.verify(state, ctx({ ...alice, clientId: 'other' })), 'another client')
  await t.rejects(codec.mint({ step: 1 }, ctx(undefined)), { message: /authenticated caller/ })
})

t.test(
  'routes with separate scope registries share no declarations; the default is process-wide',
  async (t) => {
    const a = mcpScopeRegistry()
    const b = mcpScopeRegistry()
    const server = new McpServer({ name: 'x', version: '1' })
    a.withScopes(server, 'notes:write').registerTool('add', {}, async () => ({ content: [] }))
    t.same(
      a.declarationsOf(server).map((d) => d.target),
      [{ kind: 'tool', name: 'add' }],
    )
    t.same(b.declarationsOf(server), [], 'another registry does not see it')
    t.same(processScopeRegistry.declarationsOf(server), [], 'nor does the process-wide one')
    const rulesB = mcpScopeRules()
    hostServer(server, rulesB, { listing: undefined, registry: b })
    t.same(rulesB.requirementsFor({ kind: 'tool', name: 'add' }), [], 'a route on registry b learns nothing')
    const client = await connected(server)
    t.teardown(() => client.close())
    const result = await client.callTool({ name: 'add', arguments: {} })
    t.match(
      result.content,
      [{ text: /not served behind the Portcullis MCP route/ }],
      'a is not hosting: refused',
    )

    const plain = notes()
    t.equal(processScopeRegistry.declarationsOf(plain).length, 2, 'withScopes records process-wide')
    const rulesDefault = mcpScopeRules()
    hostServer(plain, rulesDefault, { listing: undefined })
    t.same(rulesDefault.requirementsFor({ kind: 'tool', name: 'add' }), [['notes:write']])
  },
)

t.test('declarations live on the server instance; a non-extensible server keeps them too', async (t) => {
  const server = notes()
  t.same(
    Object.keys(server),
    Object.keys(new McpServer({ name: 'notes', version: '1' })),
    'no enumerable slot',
  )
  const frozen = new McpServer({ name: 'frozen', version: '1' })
  frozen.registerTool('first', {}, async () => ({ content: [] })) // the SDK sets up its handlers
  Object.preventExtensions(frozen)
  withScopes(frozen, 'notes:write').registerTool('add', {}, async () => ({ content: [] }))
  t.same(
    processScopeRegistry.declarationsOf(frozen).map((d) => d.target),
    [{ kind: 'tool', name: 'add' }],
  )
  const rules = mcpScopeRules()
  hostServer(frozen, rules, { listing: undefined })
  t.same(rules.requirementsFor({ kind: 'tool', name: 'add' }), [['notes:write']], 'the route learns them')
  const client = await connected(frozen)
  t.teardown(() => client.close())
  const refused = await client.callTool({ name: 'add', arguments: {} })
  t.match(refused.content, [{ text: /needs an authenticated caller/ }], 'hosted: guarded by the route rules')
})
