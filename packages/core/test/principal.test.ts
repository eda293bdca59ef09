import { principalKey, principalOf } from '@portcullis/core/adapter'
import t from 'tap'

const auth = (clientId: string, extra?: Record<string, unknown>) => ({ clientId, extra })

t.test('principalOf reads issuer, subject and client', async (t) => {
  t.same(principalOf(auth('app', { iss: 'https://idp', sub: 'alice' })), {
    issuer: 'https://idp',
    subject: 'alice',
    clientId: 'app',
  })
  t.same(principalOf(auth('app')), { issuer: undefined, subject: undefined, clientId: 'app' })
  t.same(principalOf(auth('app', { iss: 7, sub: ['x'] })), {
    issuer: undefined,
    subject: undefined,
    clientId: 'app',
  })
})

t.test('principalKey is equal exactly for the same (iss, sub, client)', async (t) => {
  const alice = principalKey(auth('app', { iss: 'https://idp', sub: 'alice', fingerprint: 'a' }))
  t.equal(
    alice,
    principalKey(auth('app', { iss: 'https://idp', sub: 'alice', fingerprint: 'b' })),
    'another token',
  )
  t.not(alice, principalKey(auth('app', { iss: 'https://idp', sub: 'bob' })), 'another user')
  t.not(alice, principalKey(auth('other', { iss: 'https://idp', sub: 'alice' })), 'another client')
  t.not(alice, principalKey(auth('app', { iss: 'https://other', sub: 'alice' })), 'another issuer')
  t.not(alice, principalKey(auth('app', { sub: 'alice' })), 'no issuer')
})

t.test('no separator trick makes two principals collide', async (t) => {
  const a = principalKey(auth('c', { iss: 'x","y', sub: 'z' }))
  const b = principalKey(auth('c', { iss: 'x', sub: 'y","z' }))
  t.not(a, b)
  t.not(principalKey(auth('c', { iss: 'null' })), principalKey(auth('c')))
})
