import { GatehouseError, invalidToken, isGatehouseError, temporarilyUnavailable } from '@gatehouse/core'
import t from 'tap'

t.test('status follows the OAuth code', async (t) => {
  t.equal(invalidToken('token_expired', 'expired').status, 401)
  t.equal(new GatehouseError('insufficient_scope', 'scope_insufficient', 'x').status, 403)
  const e = temporarilyUnavailable('jwks_unavailable', 'down', 7)
  t.equal(e.status, 503)
  t.equal(e.retryAfter, 7)
  t.ok(isGatehouseError(e))
  t.notOk(isGatehouseError(new Error('x')))
})
