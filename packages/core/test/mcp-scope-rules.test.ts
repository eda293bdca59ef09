import { inspectMcpBody, mcpScopeRules, scopePolicy } from '@portcullis/core/adapter'
import fc from 'fast-check'
import t from 'tap'

const call = (id: number, name: unknown) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {} },
})
const implies = { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] }
const notesRules = () =>
  mcpScopeRules({
    implies,
    tools: {
      whoami: [],
      list_notes: ['notes:read'],
      add_note: ['notes:write'],
      clear_notes: ['notes:admin'],
    },
  })

t.test('inspectMcpBody reads a single request and its target', async (t) => {
  t.same(inspectMcpBody(call(1, 'add_note')), {
    kind: 'messages',
    batch: false,
    messages: [{ type: 'request', method: 'tools/call', target: { kind: 'tool', name: 'add_note' } }],
  })
  t.same(
    inspectMcpBody({ jsonrpc: '2.0', id: 'a', method: 'prompts/get', params: { name: 'summary' } }).kind,
    'messages',
  )
  const read = inspectMcpBody({
    jsonrpc: '2.0',
    id: 2,
    method: 'resources/read',
    params: { uri: 'notes://1' },
  })
  t.same(read.kind === 'messages' && read.messages[0]?.target, { kind: 'resource', uri: 'notes://1' })
  const sub = inspectMcpBody({
    jsonrpc: '2.0',
    id: 3,
    method: 'resources/subscribe',
    params: { uri: 'notes://1' },
  })
  t.same(sub.kind === 'messages' && sub.messages[0]?.target, { kind: 'resource', uri: 'notes://1' })
})

t.test('inspectMcpBody classifies notifications, responses and invalid entries', async (t) => {
  const body = inspectMcpBody([
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', method: 'tools/call', params: { name: 'clear_notes' } },
    { jsonrpc: '2.0', id: 9, result: {} },
    { jsonrpc: '2.0', id: 9, error: { code: 1, message: 'x' } },
    42,
    null,
    'text',
    [call(1, 'x')],
    {},
  ])
  t.equal(body.kind, 'messages')
  if (body.kind !== 'messages') return
  t.equal(body.batch, true)
  t.same(
    body.messages.map((m) => m.type),
    [
      'notification',
      'notification',
      'response',
      'response',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
    ],
  )
  t.notOk(body.messages[1]?.target, 'a tools/call without id is a notification: no handler runs, no target')
})

t.test('a request with any id counts, even one the SDK would refuse', async (t) => {
  for (const id of [null, 1.5, {}, [], true]) {
    const body = inspectMcpBody({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } })
    t.equal(body.kind === 'messages' && body.messages[0]?.type, 'request', JSON.stringify(id))
  }
})

t.test('malformed targets are marked, never thrown', async (t) => {
  const cases: unknown[] = [
    { jsonrpc: '2.0', id: 1, method: 'tools/call' },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: null },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: ['add_note'] },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 42 } },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: { toString: 'add_note' } } },
    { jsonrpc: '2.0', id: 1, method: 'prompts/get', params: {} },
    { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: ['notes://1'] } },
    { jsonrpc: '2.0', id: 1, method: 'completion/complete', params: {} },
    { jsonrpc: '2.0', id: 1, method: 'completion/complete', params: { ref: { type: 'ref/other' } } },
  ]
  for (const value of cases) {
    const body = inspectMcpBody(value)
    t.equal(body.kind, 'messages')
    const message = body.kind === 'messages' ? body.messages[0] : undefined
    t.equal(message?.type, 'request')
    t.type(message?.malformed, 'string', JSON.stringify(value))
    t.notOk(message?.target)
  }
})

t.test('bodies that are not JSON-RPC are malformed; oversized batches are too_large', async (t) => {
  for (const value of [undefined, null, 42, 'x', true]) {
    t.equal(inspectMcpBody(value).kind, 'malformed', String(value))
  }
  t.same(inspectMcpBody([]), { kind: 'malformed', reason: 'An empty JSON-RPC batch' })
  const big = Array.from({ length: 129 }, (_, i) => call(i, 'whoami'))
  t.same(inspectMcpBody(big), { kind: 'too_large', count: 129, limit: 128 })
  t.equal(inspectMcpBody(big, { maxBatch: 200 }).kind, 'messages')
})

t.test('a body whose reads throw is malformed, not an exception', async (t) => {
  const hostile = {
    jsonrpc: '2.0',
    id: 1,
    get method(): string {
      throw new Error('boom')
    },
  }
  t.equal(inspectMcpBody(hostile).kind, 'malformed')
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  t.equal(inspectMcpBody(proxy).kind, 'malformed')
})

t.test('own properties only: inherited names do not count', async (t) => {
  const params = Object.create({ name: 'clear_notes' })
  const body = inspectMcpBody({ jsonrpc: '2.0', id: 1, method: 'tools/call', params })
  t.type(body.kind === 'messages' && body.messages[0]?.malformed, 'string')
  const proto = JSON.parse(
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"x"}}}',
  )
  t.type(
    inspectMcpBody(proto).kind === 'messages' && (inspectMcpBody(proto) as any).messages[0].malformed,
    'string',
  )
})

t.test('deep nesting costs nothing: only the top levels are read', async (t) => {
  let deep: unknown = {}
  for (let i = 0; i < 100_000; i++) deep = { a: deep }
  const start = process.hrtime.bigint()
  const body = inspectMcpBody({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'x', arguments: deep },
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.equal(body.kind === 'messages' && body.messages[0]?.target?.kind, 'tool')
  t.ok(ms < 50, `took ${ms.toFixed(2)} ms`)
})

t.test('property: inspectMcpBody never throws on any JSON value', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const body = inspectMcpBody(value)
      return ['messages', 'malformed', 'too_large'].includes(body.kind)
    }),
    { numRuns: 2000 },
  )
  fc.assert(
    fc.property(
      fc.record({
        jsonrpc: fc.constant('2.0'),
        id: fc.oneof(fc.integer(), fc.string()),
        method: fc.constantFrom('tools/call', 'prompts/get', 'resources/read', 'completion/complete', 'x'),
        params: fc.jsonValue(),
      }),
      (message) => {
        const rules = notesRules()
        const missing = rules.requiredFor(message, [])
        return Array.isArray(missing) && missing.every((s) => typeof s === 'string')
      },
    ),
    { numRuns: 1000 },
  )
  t.pass('no exception')
})

t.test('requiredFor: a single call needs the tool scopes the token lacks', async (t) => {
  const rules = notesRules()
  t.same(rules.requiredFor(call(1, 'add_note'), []), ['notes:write'])
  t.same(rules.requiredFor(call(1, 'add_note'), ['notes:read']), ['notes:write'])
  t.same(rules.requiredFor(call(1, 'add_note'), ['notes:write']), [])
  t.same(rules.requiredFor(call(1, 'add_note'), ['notes:admin']), [], 'implication: admin grants write')
  t.same(rules.requiredFor(call(1, 'list_notes'), ['notes:admin']), [], 'transitively: admin grants read')
  t.same(rules.requiredFor(call(1, 'whoami'), []), [], 'declared with no scopes: any valid token')
  t.same(rules.requiredFor(call(1, 'unknown'), []), [], 'undeclared, no default: the SDK answers')
  t.same(rules.requiredFor({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, []), [])
  t.same(rules.requiredFor(call(1, 42), []), [], 'malformed: the SDK answers a JSON-RPC error')
})

t.test('requiredFor: a batch is taken as a whole, minimal under implication', async (t) => {
  const rules = notesRules()
  const batch = [call(1, 'list_notes'), call(2, 'add_note'), call(3, 'clear_notes'), call(4, 'whoami')]
  t.same(
    rules.requiredFor(batch, []),
    ['notes:admin'],
    'admin implies the other two: one scope names them all',
  )
  t.same(rules.requiredFor([call(1, 'list_notes'), call(2, 'add_note')], []), ['notes:write'])
  t.same(rules.requiredFor([call(1, 'list_notes'), call(2, 'add_note')], ['notes:write']), [])
  t.same(rules.requiredFor([call(1, 'whoami'), call(2, 'list_notes')], ['notes:read']), [])

  const multi = mcpScopeRules({
    tools: { mail: ['mail:send'], files: ['files:read', 'files:write'], read: ['files:read'] },
  })
  t.same(multi.requiredFor([call(1, 'mail'), call(2, 'files'), call(3, 'read')], ['files:read']), [
    'mail:send',
    'files:write',
  ])
  t.same(multi.requiredFor([call(1, 'mail'), call(2, 'mail')], []), ['mail:send'], 'no duplicates')
})

t.test('requiredFor: anyOf counts only when the rest of the body does not meet it', async (t) => {
  const rules = mcpScopeRules({
    tools: {
      search: { anyOf: ['docs:read', 'docs:admin'] },
      edit: ['docs:admin'],
      other: { anyOf: ['x', 'y'] },
    },
  })
  t.same(rules.requiredFor(call(1, 'search'), []), ['docs:read'])
  t.same(rules.requiredFor([call(1, 'search'), call(2, 'edit')], []), ['docs:admin'], 'docs:admin meets both')
  t.same(rules.requiredFor([call(1, 'search'), call(2, 'other')], ['y']), ['docs:read'])
  t.same(rules.requiredFor(call(1, 'search'), ['docs:admin']), [])
})

t.test('prompts, resources and resource templates', async (t) => {
  const rules = mcpScopeRules({
    implies,
    prompts: { summary: ['notes:read'] },
    resources: {
      'notes://all': ['notes:read'],
      'notes://{id}': ['notes:read'],
      'notes://{id}/history': ['notes:admin'],
      'file:///{+path}': ['files:read'],
    },
  })
  const get = (name: string) => ({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name } })
  const read = (uri: string) => ({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } })
  t.same(rules.requiredFor(get('summary'), []), ['notes:read'])
  t.same(rules.requiredFor(read('notes://all'), []), ['notes:read'])
  t.same(rules.requiredFor(read('notes://42'), []), ['notes:read'])
  t.same(
    rules.requiredFor(read('notes://42/history'), ['notes:read']),
    ['notes:admin'],
    'segment does not span /',
  )
  t.same(rules.requiredFor(read('file:///etc/hosts'), []), ['files:read'], '{+path} spans /')
  t.same(rules.requiredFor(read('other://x'), []), [], 'undeclared resource')
  t.same(rules.requiredFor(read('not a uri'), []), [], 'unparseable: the SDK refuses it')
  const complete = (ref: unknown) => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'completion/complete',
    params: { ref },
  })
  t.same(rules.requiredFor(complete({ type: 'ref/prompt', name: 'summary' }), []), ['notes:read'])
  t.same(rules.requiredFor(complete({ type: 'ref/resource', uri: 'notes://{id}/history' }), []), [
    'notes:admin',
  ])
  t.ok(rules.allows({ kind: 'resource', uri: 'notes://7' }, ['notes:write']))
  t.notOk(rules.allows({ kind: 'resource', uri: 'notes://7/history' }, ['notes:write']))
})

t.test('static resource URIs are normalised as the SDK looks them up', async (t) => {
  const rules = mcpScopeRules({ resources: { 'HTTPS://Example.COM/a/../b': ['web:read'] } })
  const read = (uri: string) => ({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } })
  t.same(rules.requiredFor(read('https://example.com/b'), []), ['web:read'])
  t.same(rules.requiredFor(read('https://EXAMPLE.com/./b'), []), ['web:read'])
})

t.test('overlapping templates: every matching one is required', async (t) => {
  const rules = mcpScopeRules({ resources: { 'x://{a}': ['one'], 'x://{+b}': ['two'] } })
  const read = { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'x://q' } }
  t.same(rules.requiredFor(read, []), ['one', 'two'])
})

t.test('undeclared: a default for everything nothing declares', async (t) => {
  const rules = mcpScopeRules({ tools: { open: [] }, undeclared: ['mcp:tools'] })
  t.same(rules.requiredFor(call(1, 'mystery'), []), ['mcp:tools'])
  t.same(rules.requiredFor(call(1, 'open'), []), [], 'a declaration with no scopes wins over the default')
  t.same(rules.requiredFor({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'p' } }, []), [
    'mcp:tools',
  ])
  t.same(
    rules.requiredFor({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'a://b' } }, []),
    ['mcp:tools'],
  )
})

t.test('a too-large body needs every declared scope (fail closed)', async (t) => {
  const rules = mcpScopeRules({
    tools: { a: ['s1'], b: ['s2'] },
    resources: { 'r://{x}': ['s3'] },
    maxBatch: 2,
  })
  const checked = rules.check([call(1, 'a'), call(2, 'a'), call(3, 'a')], [])
  t.equal(checked.body.kind, 'too_large')
  t.same(checked.missing, ['s1', 's2', 's3'])
})

t.test('a URI beyond maxUriLength needs every resource scope (fail closed)', async (t) => {
  const rules = mcpScopeRules({
    resources: { 'r://{x}': ['s1'], 'q://y': ['s2'] },
    tools: { t: ['s3'] },
    maxUriLength: 100,
  })
  const uri = `r://${'a'.repeat(200)}`
  t.same(rules.requiredFor({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }, []), [
    's2',
    's1',
  ])
})

t.test('declarations: repeated identical ones are fine, conflicting ones throw naming both', async (t) => {
  const rules = mcpScopeRules({ tools: { add_note: ['notes:write'] } })
  rules.declareTool('add_note', ['notes:write'])
  rules.declareTool('add_note', { allOf: ['notes:write'] })
  t.throws(() => rules.declareTool('add_note', ['notes:admin']), {
    message: /tool "add_note" is declared with \[notes:write\]; it cannot also need \[notes:admin\]/,
  })
  rules.declareResource('notes://{id}', ['notes:read'])
  rules.declareResource('notes://{id}', ['notes:read'])
  t.throws(() => rules.declareResource('notes://{id}', { anyOf: ['a'] }), { message: /resource template/ })
  t.throws(() => rules.declareTool('x', ['bad scope']), { message: /tool "x"/ })
  t.throws(() => rules.declareTool('', []), { message: /non-empty name/ })
  t.throws(() => rules.declareResource('r://{unclosed', ['a'], { template: true }), { message: /unclosed/ })
})

t.test('names are map keys: prototype names are ordinary tools', async (t) => {
  const rules = mcpScopeRules({ undeclared: ['d'] })
  rules.declareTool('__proto__', ['p'])
  t.same(
    rules.requiredFor(
      JSON.parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"constructor"}}'),
      [],
    ),
    ['d'],
  )
  t.same(rules.requiredFor(call(1, '__proto__'), []), ['p'])
})

t.test('options are validated with errors that name the option', async (t) => {
  t.throws(() => mcpScopeRules({ tools: { a: ['has space'] } }), {
    message: /mcpScopeRules: option "tools.a/,
  })
  t.throws(() => mcpScopeRules({ maxBatch: 0 } as never), { message: /option "maxBatch"/ })
  t.throws(() => mcpScopeRules({ policy: {} as never }), { message: /ScopePolicy/ })
  t.throws(() => mcpScopeRules({ extra: 1 } as never), { message: /extra/ })
})

t.test('a shared policy (e.g. the gate policy) is used as given', async (t) => {
  const policy = scopePolicy({ all: ['one', 'two'] })
  const rules = mcpScopeRules({ policy, tools: { a: ['one'], b: ['two'] } })
  t.equal(rules.policy, policy)
  t.same(rules.requiredFor([call(1, 'a'), call(2, 'b')], ['all']), [])
})

t.test('declaredScopes lists every scope once, in declaration order', async (t) => {
  const rules = mcpScopeRules({
    tools: { a: ['s1'], b: { anyOf: ['s2', 's1'] } },
    prompts: { p: ['s3'] },
    resources: { 'r://{x}': { allOf: ['s4'] } },
    undeclared: ['s5'],
  })
  rules.declareTool('c', ['s6'])
  t.same(rules.declaredScopes(), ['s1', 's2', 's6', 's3', 's4', 's5'])
})

t.test('granted values that are not strings are ignored', async (t) => {
  const rules = notesRules()
  t.same(rules.requiredFor(call(1, 'add_note'), [42, null, 'notes:write'] as never), [])
  t.same(rules.requiredFor(call(1, 'add_note'), 'notes:write' as never), ['notes:write'])
})

t.test('a large batch of many tools is checked quickly', async (t) => {
  const rules = mcpScopeRules({
    maxBatch: 10_000,
    tools: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`t${i}`, [`s${i}`]])),
  })
  const batch = Array.from({ length: 10_000 }, (_, i) => call(i, `t${i % 500}`))
  const start = process.hrtime.bigint()
  const missing = rules.requiredFor(batch, [])
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.equal(missing.length, 500)
  t.ok(ms < 500, `10 000 calls over 500 tools checked in ${ms.toFixed(1)} ms`)
})
