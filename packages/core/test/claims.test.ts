import t from 'tap'
import { checkTimeClaims, clientIdOfClaims, scopesOfClaims } from '../src/token/claims.js'

const reason = (fn: () => unknown) => {
  try {
    fn()
    return undefined
  } catch (error) {
    return (error as { reason?: string }).reason
  }
}

t.test('exp, nbf and iat against the clock, with leeway, at the exact edges', async (t) => {
  const now = 1_000
  t.equal(
    reason(() => checkTimeClaims(1_000, undefined, undefined, now, 0)),
    'token_expired',
    'exp = now',
  )
  t.equal(
    reason(() => checkTimeClaims(1_001, undefined, undefined, now, 0)),
    undefined,
    'exp a second ahead',
  )
  t.equal(
    reason(() => checkTimeClaims(941, undefined, undefined, now, 60)),
    undefined,
    'within the leeway',
  )
  t.equal(
    reason(() => checkTimeClaims(940, undefined, undefined, now, 60)),
    'token_expired',
    'exp + leeway = now',
  )
  t.equal(
    reason(() => checkTimeClaims(undefined, 1_060, undefined, now, 60)),
    undefined,
    'nbf at the leeway',
  )
  t.equal(
    reason(() => checkTimeClaims(undefined, 1_061, undefined, now, 60)),
    'token_not_yet_valid',
  )
  t.equal(
    reason(() => checkTimeClaims(undefined, undefined, 1_060, now, 60)),
    undefined,
    'iat at the leeway',
  )
  t.equal(
    reason(() => checkTimeClaims(undefined, undefined, 1_061, now, 60)),
    'issued_in_future',
  )
  t.equal(
    reason(() => checkTimeClaims(undefined, undefined, undefined, now, 0)),
    undefined,
    'no claims, no rule',
  )
})

t.test('scopes from scope/scp, a named claim, or a mapper; a failing mapper refuses', async (t) => {
  t.same(scopesOfClaims({ scope: 'a b' }, undefined, undefined), ['a', 'b'])
  t.same(scopesOfClaims({ roles: ['r'] }, undefined, 'roles'), ['r'])
  t.same(
    scopesOfClaims({}, () => ['x', 1 as unknown as string, 'y'], undefined),
    ['x', 'y'],
    'non-strings dropped',
  )
  t.equal(
    reason(() =>
      scopesOfClaims(
        {},
        () => {
          throw new Error('boom')
        },
        undefined,
      ),
    ),
    'claims_malformed',
  )
})

t.test('the client id: client_id, then azp, own string claims only', async (t) => {
  t.equal(clientIdOfClaims({ client_id: 'c', azp: 'a' }), 'c')
  t.equal(clientIdOfClaims({ client_id: 7, azp: 'a' }), 'a', 'a non-string is skipped')
  t.equal(clientIdOfClaims({}), '')
  t.equal(clientIdOfClaims(Object.create({ client_id: 'inherited' })), '', 'inherited members never count')
  t.equal(clientIdOfClaims({ cid: 'x', client_id: 'c' }, ['cid']), 'x', 'configured names')
})
