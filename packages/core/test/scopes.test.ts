import {
  isScopeToken,
  mcpScopeRules,
  parseScopeArgs,
  parseScopeRequirement,
  scopePolicy,
  scopeRequirementSchema,
  scopesFromClaims,
} from '@portcullis/core/adapter'
import t from 'tap'

const notes = scopePolicy({ 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] })

t.test('isScopeToken follows RFC 6749 §3.3', async (t) => {
  for (const s of ['a', 'notes:read', 'https://api.example/notes.read', '!#[]^~', 'Notes.Admin', 'a/b=c']) {
    t.ok(isScopeToken(s), s)
  }
  for (const s of [
    '',
    'a b',
    'a"b',
    'a\\b',
    'a\tb',
    'caf\u00e9',
    'a\u007f',
    'a\u0000',
    'a\n',
    42,
    null,
    undefined,
  ]) {
    t.notOk(isScopeToken(s), JSON.stringify(s))
  }
})

t.test('without implications a policy compares sets', async (t) => {
  const plain = scopePolicy()
  t.same([...plain.expand(['a', 'b', 'a'])], ['a', 'b'])
  t.ok(plain.satisfies(['a'], ['a', 'b']))
  t.notOk(plain.satisfies(['a', 'c'], ['a', 'b']))
  t.same(plain.missing(['a', 'c', 'd'], ['a']), ['c', 'd'])
})

t.test('expand applies implication transitively', async (t) => {
  t.same([...notes.expand(['notes:admin'])].sort(), ['notes:admin', 'notes:read', 'notes:write'])
  t.same([...notes.expand(['notes:write'])].sort(), ['notes:read', 'notes:write'])
  t.same([...notes.expand(['notes:read'])], ['notes:read'])
  t.same([...notes.expand(['other', 'notes:write'])].sort(), ['notes:read', 'notes:write', 'other'])
  t.same([...notes.expand([])], [])
  t.same([...notes.expand(new Set(['notes:write']))].sort(), ['notes:read', 'notes:write'], 'any iterable')
})

t.test('expand returns a fresh set and does not leak policy state', async (t) => {
  const first = notes.expand(['notes:admin'])
  first.delete('notes:read')
  first.add('injected')
  t.same([...notes.expand(['notes:admin'])].sort(), ['notes:admin', 'notes:read', 'notes:write'])
})

t.test('expand skips non-string entries', async (t) => {
  t.same([...notes.expand(['notes:write', 42, null] as never)].sort(), ['notes:read', 'notes:write'])
})

t.test('implication is one-way', async (t) => {
  t.ok(notes.satisfies(['notes:read'], ['notes:admin']))
  t.ok(notes.satisfies(['notes:read', 'notes:write'], ['notes:admin']))
  t.notOk(notes.satisfies(['notes:admin'], ['notes:read', 'notes:write']))
  t.notOk(notes.satisfies(['notes:write'], ['notes:read']))
})

t.test('cycles terminate and make their members equivalent', async (t) => {
  const cyclic = scopePolicy({ a: ['b'], b: ['c'], c: ['a'], self: ['self'] })
  t.same([...cyclic.expand(['a'])].sort(), ['a', 'b', 'c'])
  t.same([...cyclic.expand(['c'])].sort(), ['a', 'b', 'c'])
  t.same([...cyclic.expand(['self'])], ['self'])
  t.ok(cyclic.satisfies(['a', 'b', 'c'], ['b']))
  // Of equivalent scopes, asking for the first listed is enough.
  t.same(cyclic.missing(['b', 'a', 'c'], []), ['b'])
  t.same(cyclic.missing(['c', 'b'], []), ['c'])
})

t.test('satisfies: all-of (array or allOf)', async (t) => {
  t.ok(notes.satisfies(['notes:read'], ['notes:read']))
  t.ok(notes.satisfies({ allOf: ['notes:read'] }, ['notes:write']))
  t.notOk(notes.satisfies({ allOf: ['notes:read', 'other'] }, ['notes:admin']))
  t.notOk(notes.satisfies(['notes:read'], []))
  t.notOk(notes.satisfies(['notes:read'], ['NOTES:READ']), 'scopes are case-sensitive')
  t.notOk(notes.satisfies(['notes:read'], ['notes:read ']), 'no trimming')
})

t.test('satisfies: any-of', async (t) => {
  t.ok(notes.satisfies({ anyOf: ['x', 'notes:read'] }, ['notes:admin']))
  t.ok(notes.satisfies({ anyOf: ['notes:read'] }, ['notes:read']))
  t.notOk(notes.satisfies({ anyOf: ['x', 'y'] }, ['notes:admin']))
  t.notOk(notes.satisfies({ anyOf: ['notes:admin'] }, ['notes:write']))
})

t.test('an empty requirement requires nothing', async (t) => {
  for (const requirement of [[], { allOf: [] }, { anyOf: [] }]) {
    t.ok(notes.satisfies(requirement, []), JSON.stringify(requirement))
    t.same(notes.missing(requirement, []), [], JSON.stringify(requirement))
  }
})

t.test('missing: all-of returns the unmet scopes, minus those another unmet one implies', async (t) => {
  t.same(notes.missing(['notes:read'], []), ['notes:read'])
  t.same(notes.missing(['notes:read', 'notes:write'], []), ['notes:write'])
  t.same(notes.missing(['notes:write', 'notes:read'], []), ['notes:write'])
  t.same(notes.missing(['notes:read', 'notes:write', 'notes:admin'], []), ['notes:admin'])
  t.same(notes.missing(['notes:read', 'notes:write'], ['notes:read']), ['notes:write'])
  t.same(notes.missing(['notes:read', 'other', 'notes:write'], ['notes:write']), ['other'])
  t.same(notes.missing(['other', 'notes:read', 'x'], []), ['other', 'notes:read', 'x'], 'stable order')
  t.same(notes.missing(['notes:read', 'notes:read'], []), ['notes:read'], 'deduplicated')
  t.same(notes.missing({ allOf: ['notes:read', 'notes:write'] }, ['notes:admin']), [])
})

t.test('missing: granted scopes are never asked for again', async (t) => {
  t.same(notes.missing(['notes:read', 'files:write'], ['notes:read']), ['files:write'])
})

t.test(
  'missing: siblings implied by a common parent are both listed when the parent is not required',
  async (t) => {
    const files = scopePolicy({ 'files:admin': ['files:read', 'files:write'] })
    t.same(files.missing(['files:read', 'files:write'], []), ['files:read', 'files:write'])
    t.same(files.missing(['files:read', 'files:write', 'files:admin'], []), ['files:admin'])
  },
)

t.test('missing: any-of asks for the first listed option only when none is met', async (t) => {
  t.same(notes.missing({ anyOf: ['notes:write', 'notes:admin'] }, []), ['notes:write'])
  t.same(notes.missing({ anyOf: ['notes:write', 'notes:admin'] }, ['notes:read']), ['notes:write'])
  t.same(notes.missing({ anyOf: ['notes:write', 'notes:admin'] }, ['notes:admin']), [])
  t.same(notes.missing({ anyOf: ['x', 'notes:read'] }, ['notes:write']), [])
})

t.test('missing is exactly what satisfies needs', async (t) => {
  const policy = scopePolicy({ a: ['b', 'c'], b: ['d'], e: ['a'] })
  const universe = ['a', 'b', 'c', 'd', 'e', 'f']
  const requirements = [
    ['a'],
    ['b', 'c'],
    ['d', 'f'],
    ['a', 'e', 'd'],
    { anyOf: ['d', 'f'] },
    { anyOf: ['e'] },
  ]
  // All subsets of a small universe: the missing set always completes the grant.
  for (let mask = 0; mask < 1 << universe.length; mask++) {
    const granted = universe.filter((_, i) => mask & (1 << i))
    for (const requirement of requirements) {
      const missing = policy.missing(requirement, granted)
      t.equal(missing.length === 0, policy.satisfies(requirement, granted))
      t.ok(policy.satisfies(requirement, [...granted, ...missing]))
    }
  }
})

t.test('rejects malformed implications with a message naming the scope', async (t) => {
  t.throws(() => scopePolicy({ 'a b': ['x'] }), {
    name: 'TypeError',
    message: /scopePolicy.*"a b" is not a valid scope/,
  })
  t.throws(() => scopePolicy({ a: ['x"y'] }), { name: 'TypeError', message: /"x\\"y" is not a valid scope/ })
  t.throws(() => scopePolicy({ a: [''] }), { name: 'TypeError', message: /scopePolicy.*not a valid scope/ })
  t.throws(() => scopePolicy({ a: 'b' } as never), { name: 'TypeError', message: /scopePolicy/ })
  t.throws(() => scopePolicy({ a: [42] } as never), { name: 'TypeError', message: /scopePolicy/ })
  t.throws(() => scopePolicy(['a'] as never), { name: 'TypeError', message: /scopePolicy/ })
  t.throws(() => scopePolicy(null as never), { name: 'TypeError', message: /scopePolicy/ })
})

t.test('accepts odd but valid scope names, including __proto__', async (t) => {
  const odd = scopePolicy({ __proto__: ['x'], constructor: ['y'] } as never)
  t.type(odd.expand([]), Set)
  const withProto = scopePolicy(JSON.parse('{"__proto__":["x"],"toString":["y"]}'))
  t.same([...withProto.expand(['__proto__'])].sort(), ['__proto__', 'x'])
  t.same([...withProto.expand(['toString'])].sort(), ['toString', 'y'])
  t.same([...withProto.expand(['hasOwnProperty'])], ['hasOwnProperty'])
})

t.test('rejects a requirement of the wrong shape', async (t) => {
  for (const requirement of [null, undefined, 'notes:read', {}, { allOf: 'a' }, { oneOf: ['a'] }]) {
    t.throws(
      () => notes.satisfies(requirement as never, []),
      { name: 'TypeError' },
      JSON.stringify(requirement),
    )
    t.throws(
      () => notes.missing(requirement as never, []),
      { name: 'TypeError' },
      JSON.stringify(requirement),
    )
  }
})

t.test('scopeRequirementSchema validates requirements for register time', async (t) => {
  for (const ok of [[], ['a'], { allOf: [] }, { allOf: ['a', 'b'] }, { anyOf: ['a'] }]) {
    t.ok(scopeRequirementSchema.safeParse(ok).success, JSON.stringify(ok))
  }
  for (const bad of [
    ['a b'],
    { anyOf: [] },
    { allOf: ['a'], anyOf: ['b'] },
    { allOf: ['a'], x: 1 },
    'a',
    null,
    [1],
  ]) {
    t.notOk(scopeRequirementSchema.safeParse(bad).success, JSON.stringify(bad))
  }
})

t.test('scopesFromClaims: scope as a space-separated string (RFC 9068 §2.2.3)', async (t) => {
  t.same(scopesFromClaims({ scope: 'a b c' }), ['a', 'b', 'c'])
  t.same(scopesFromClaims({ scope: 'a  b ' }), ['a', 'b'], 'empty parts ignored')
  t.same(scopesFromClaims({ scope: 'a b a' }), ['a', 'b'], 'deduplicated')
  t.same(scopesFromClaims({ scope: '' }), [])
  t.same(scopesFromClaims({ scope: ['a', 'b c'] }), ['a', 'b', 'c'], 'array tolerated')
})

t.test('scopesFromClaims: scp as a string (Entra) or an array (Okta)', async (t) => {
  t.same(scopesFromClaims({ scp: 'Notes.Read Notes.Write' }), ['Notes.Read', 'Notes.Write'])
  t.same(scopesFromClaims({ scp: ['notes:read', 'notes:write'] }), ['notes:read', 'notes:write'])
})

t.test('scopesFromClaims: scope and scp are merged', async (t) => {
  t.same(scopesFromClaims({ scope: 'a b', scp: ['b', 'c'] }), ['a', 'b', 'c'])
})

t.test('scopesFromClaims: a named claim replaces the defaults', async (t) => {
  t.same(scopesFromClaims({ roles: ['Notes.Admin', 'X'], scope: 'a' }, 'roles'), ['Notes.Admin', 'X'])
  t.same(scopesFromClaims({ permissions: 'p1 p2' }, 'permissions'), ['p1', 'p2'])
  t.same(scopesFromClaims({ scope: 'a' }, 'roles'), [], 'absent named claim')
})

t.test('scopesFromClaims: ignores junk', async (t) => {
  t.same(scopesFromClaims({}), [])
  t.same(scopesFromClaims({ scope: 42, scp: { a: 1 } }), [])
  t.same(scopesFromClaims({ scope: null }), [])
  t.same(scopesFromClaims({ scp: ['a', 1, null, { b: 2 }, ['c'], 'd'] }), ['a', 'd'])
  t.same(scopesFromClaims({ scope: true }), [])
  // Inherited properties are not claims.
  t.same(scopesFromClaims(Object.create({ scope: 'inherited' })), [])
  t.same(scopesFromClaims({}, 'toString'), [])
})

t.test('expand and satisfies are fast on a deep hierarchy', async (t) => {
  const implies: Record<string, string[]> = {}
  for (let i = 0; i < 200; i++) implies[`s${i}`] = [`s${i + 1}`]
  const deep = scopePolicy(implies)
  t.equal(deep.expand(['s0']).size, 201)
  t.ok(deep.satisfies(['s200'], ['s0']))
  t.same(deep.missing(['s200', 's100', 's0'], []), ['s0'])
})

t.test('a "__proto__" key is validated like any other', async (t) => {
  t.throws(() => scopePolicy(JSON.parse('{"__proto__":[42]}')), { name: 'TypeError', message: /scopePolicy/ })
  t.throws(() => scopePolicy(JSON.parse('{"__proto__":["a b"]}')), {
    name: 'TypeError',
    message: /scopePolicy/,
  })
})

t.test('a scope list validated once is remembered, frozen; invalid ones are still refused', async (t) => {
  const first = parseScopeArgs(['notes:read', 'notes:write'], 'test')
  const again = parseScopeArgs(['notes:read', 'notes:write'], 'test')
  t.equal(again, first, 'the same validated requirement, no second parse')
  t.ok(Object.isFrozen(first))
  t.throws(() => parseScopeArgs(['notes:read notes:write'], 'test'), /test/)
  t.throws(() => parseScopeArgs(['notes:read\nnotes:write'], 'test'), /test/)
  const anyOf = parseScopeArgs([{ anyOf: ['a', 'b'] }], 'test')
  t.ok(Object.isFrozen(anyOf) && Object.isFrozen((anyOf as { anyOf: string[] }).anyOf))
  t.equal(parseScopeRequirement(anyOf, 'test'), anyOf, 'a validated requirement passes as is')
  // The MCP rules take a validated requirement without a second parse, and still compare them.
  const rules = mcpScopeRules({})
  rules.declareTool('x', first)
  rules.declareTool('x', again)
  t.throws(() => rules.declareTool('x', anyOf), /cannot also need/)
})
