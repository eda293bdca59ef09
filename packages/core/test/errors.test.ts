import { invalidToken, isPortcullisError, PortcullisError, temporarilyUnavailable } from '@portcullis/core'
import t from 'tap'

t.test('status follows the OAuth code', async (t) => {
  t.equal(invalidToken('token_expired', 'expired').status, 401)
  t.equal(new PortcullisError('insufficient_scope', 'scope_insufficient', 'x').status, 403)
  const e = temporarilyUnavailable('jwks_unavailable', 'down', 7)
  t.equal(e.status, 503)
  t.equal(e.retryAfter, 7)
  t.ok(isPortcullisError(e))
  t.notOk(isPortcullisError(new Error('x')))
})
