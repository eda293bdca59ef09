import { readClaim, scopeMapper } from '@portcullis/core'
import t from 'tap'
import { claimPathSegments } from '../src/token/scope-mapper.js'

t.test('scope claims are read as they are: space-separated strings and arrays', async (t) => {
  const toScopes = scopeMapper()
  t.same(toScopes({ scope: 'a b  c' }), ['a', 'b', 'c'], 'default: scope and scp')
  t.same(toScopes({ scp: ['x', 'y'], scope: 'x' }), ['x', 'y'], 'merged, duplicates dropped')
  t.same(toScopes({ scope: 42, scp: [1, 'ok', null] }), ['ok'], 'non-strings ignored')
  t.same(scopeMapper({ scopeClaims: ['permissions'] })({ scope: 'a', permissions: ['p:1'] }), ['p:1'])
  t.same(scopeMapper({ scopeClaims: [] })({ scope: 'a' }), [], 'no scope claims: nothing from scope')
})

t.test('roles grant only the scopes the map declares', async (t) => {
  const toScopes = scopeMapper({
    scopeClaims: ['scope'],
    roleClaims: ['realm_access.roles', ['resource_access', 'notes.api', 'roles'], 'cognito:groups'],
    roles: { 'mcp-admin': ['notes:admin'], reader: ['notes:read'], 'Notes Editors': ['notes:write'] },
  })
  t.same(
    toScopes({
      scope: 'openid',
      realm_access: { roles: ['mcp-admin', 'offline_access', 'unmapped'] },
      resource_access: { 'notes.api': { roles: ['reader'] } },
    }),
    ['openid', 'notes:admin', 'notes:read'],
  )
  t.same(
    toScopes({ 'cognito:groups': ['Notes Editors'] }),
    ['notes:write'],
    'a role name with a space is whole',
  )
  t.same(toScopes({ 'cognito:groups': 'Notes Editors' }), ['notes:write'], 'a single role as a string')
  t.same(toScopes({ scope: 'mcp-admin' }), ['mcp-admin'], 'a scope named like a role is not mapped')
  t.same(toScopes({ realm_access: ['mcp-admin'] }), [], 'an array where an object is expected finds nothing')
  t.same(
    scopeMapper({ roleClaims: ['roles'] })({ roles: ['mcp-admin'] }),
    [],
    'without a map, roles grant nothing',
  )
})

t.test('prototype members are never reached', async (t) => {
  const toScopes = scopeMapper({
    scopeClaims: [],
    roleClaims: ['roles'],
    roles: { constructor: ['c'], toString: ['s'] },
  })
  t.same(toScopes({ roles: ['constructor', 'hasOwnProperty', '__proto__'] }), ['c'])
  const claims = JSON.parse('{"__proto__": {"roles": ["x"]}}') as Record<string, unknown>
  t.same(readClaim(claims, '__proto__.roles'), ['x'], 'an own "__proto__" member from JSON is data')
  t.equal(readClaim({}, 'constructor'), undefined)
  t.equal(readClaim({ a: 'text' }, 'a.length'), undefined, 'strings are not walked into')
})

t.test('claim paths', async (t) => {
  t.same(claimPathSegments('realm_access.roles'), ['realm_access', 'roles'])
  t.same(claimPathSegments(['https://example.com/roles']), ['https://example.com/roles'])
  t.same(readClaim({ 'https://example.com/roles': ['a'] }, ['https://example.com/roles']), ['a'])
})

t.test('options are validated, naming the option', async (t) => {
  t.throws(() => scopeMapper({ roleClaims: ['https://example.com/roles'] }), {
    message: /scopeMapper: option "roleClaims.0": .*give it as segments/,
  })
  t.throws(() => scopeMapper({ scopeClaims: ['a..b'] }), /option "scopeClaims.0": .*empty segment/)
  t.throws(() => scopeMapper({ roleClaims: [[]] }), /option "roleClaims.0"/)
  t.throws(
    () => scopeMapper({ roles: { admin: ['has space'] } }),
    /option "roles.admin.0": .*not a valid scope/,
  )
  t.throws(() => scopeMapper({ roles: ['admin'] as never }), /option "roles": expected an object/)
  t.throws(() => scopeMapper({ role: {} } as never), /Unrecognized key/)
})
