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

t.test('option errors name their owner, and a factory building another re-labels them', async (t) => {
  const { OptionsError, jwtVerifier } = await import('@portcullis/core')
  const error = t.throws(() =>
    jwtVerifier({ issuer: 'https://id.example.com', audience: 'a', clockTolerance: 9999, keys: [] } as never),
  ) as InstanceType<typeof OptionsError>
  t.ok(error instanceof OptionsError)
  t.ok(error instanceof TypeError, 'still a TypeError')
  t.equal(error.owner, 'jwtVerifier')
  t.match(error.message, /^jwtVerifier: .*option "clockTolerance"/)
  t.equal(error.message, `jwtVerifier: ${error.problem}`)
  const relabelled = error.relabel('keycloak')
  t.equal(relabelled.message, `keycloak: ${error.problem}`)
  t.equal(relabelled.owner, 'keycloak')
  t.equal(relabelled.cause, error)
  t.equal(relabelled.name, 'TypeError', 'named as before')
})

t.test('a refused token captures no stack: an answer to the client, not a fault', async (t) => {
  const limit = Error.stackTraceLimit
  const error = invalidToken('signature_invalid', 'signature does not verify', new Error('inner'))
  t.equal(error.stack, 'PortcullisError: signature does not verify', 'no frames')
  t.equal(error.code, 'invalid_token')
  t.equal((error.cause as Error).message, 'inner', 'the cause is kept')
  t.equal(Error.stackTraceLimit, limit, 'the limit is put back')
  t.match(new Error('after').stack, /\n\s+at /, 'errors made afterwards have their stack')
  // Other errors keep theirs: a fault worth a stack.
  t.match(new PortcullisError('temporarily_unavailable', 'jwks_unavailable', 'down').stack, /\n\s+at /)
})
