import { connect } from 'node:net'
import { PortcullisError } from '@portcullis/core'
import {
  DEFAULT_MAX_TOKEN_LENGTH,
  formBodyToken,
  isFormContentType,
  mayCarryFormToken,
  readBearer,
  requestFormToken,
} from '@portcullis/core/adapter'
import { loopbackServer } from '@portcullis/test-kit'
import t from 'tap'

const JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Imh0dHBzOi8vbWNwLmV4YW1wbGUifQ.c2lnbmF0dXJl'

const malformed = { name: 'PortcullisError', code: 'invalid_request', reason: 'header_malformed' }
const multiple = { name: 'PortcullisError', code: 'invalid_request', reason: 'multiple_credentials' }
const tooLarge = { name: 'PortcullisError', code: 'invalid_token', reason: 'token_too_large' }

t.test('reads the token of a Bearer header', async (t) => {
  t.same(readBearer({ authorization: `Bearer ${JWT}` }), { token: JWT })
  t.same(readBearer({ authorization: 'Bearer abc' }), { token: 'abc' })
})

t.test('matches the scheme case-insensitively (OAuth 2.1 §5.1.1)', async (t) => {
  for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
    t.same(readBearer({ authorization: `${scheme} tok` }), { token: 'tok' }, scheme)
  }
})

t.test('accepts every token68 character and trailing padding (RFC 6750 §2.1)', async (t) => {
  const all = 'ABCXYZabcxyz0189-._~+/'
  t.same(readBearer({ authorization: `Bearer ${all}` }), { token: all })
  t.same(readBearer({ authorization: 'Bearer abc=' }), { token: 'abc=' })
  t.same(readBearer({ authorization: 'Bearer abc==' }), { token: 'abc==' })
  t.same(readBearer({ authorization: 'Bearer a' }), { token: 'a' })
})

t.test('rejects a token68 that is only padding or has padding inside', async (t) => {
  t.throws(() => readBearer({ authorization: 'Bearer ==' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer =' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer a=b' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer a==b==' }), malformed)
})

t.test('accepts one or more spaces between scheme and token, not tabs', async (t) => {
  t.same(readBearer({ authorization: 'Bearer  tok' }), { token: 'tok' })
  t.same(readBearer({ authorization: 'Bearer     tok' }), { token: 'tok' })
  t.throws(() => readBearer({ authorization: 'Bearer\ttok' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer \ttok' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer\u00a0tok' }), malformed)
})

t.test('a scheme glued to its token is another scheme, not a bearer token', async (t) => {
  t.same(readBearer({ authorization: 'Bearertok' }), { token: undefined, reason: 'scheme_unsupported' })
})

t.test('ignores whitespace around the field value, as HTTP parsers do (RFC 9110 §5.5)', async (t) => {
  t.same(readBearer({ authorization: '  Bearer tok  ' }), { token: 'tok' })
  t.same(readBearer({ authorization: '\tBearer tok\t' }), { token: 'tok' })
  t.same(readBearer({ authorization: '   ' }), { token: undefined, reason: 'credentials_missing' })
  // Only SP and HTAB are field whitespace: other Unicode spaces are malformed.
  t.throws(() => readBearer({ authorization: '\u00a0Bearer tok' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer tok\u00a0' }), malformed)
  t.throws(() => readBearer({ authorization: 'Bearer tok\u2003' }), malformed)
})

t.test('no header, an empty header or an empty array is credentials_missing', async (t) => {
  const missing = { token: undefined, reason: 'credentials_missing' }
  t.same(readBearer({}), missing)
  t.same(readBearer({ authorization: undefined }), missing)
  t.same(readBearer({ authorization: '' }), missing)
  t.same(readBearer({ authorization: [] }), missing)
  t.same(readBearer({ authorization: [''] }), missing)
})

t.test('a one-element array is read like a string', async (t) => {
  t.same(readBearer({ authorization: ['Bearer tok'] }), { token: 'tok' })
  t.same(readBearer({ authorization: ['Basic dXNlcjpwYXNz'] }), {
    token: undefined,
    reason: 'scheme_unsupported',
  })
})

t.test('another scheme is scheme_unsupported, whatever follows it (RFC 6750 §3.1)', async (t) => {
  for (const authorization of [
    'Basic dXNlcjpwYXNz',
    'DPoP eyJhbGciOiJFUzI1NiJ9.e30.sig',
    'Digest username="a", realm="b"',
    'Negotiate',
    'basic',
    'Token abc def ghi',
    'MAC id="x"',
    'Bearers tok',
    'Bear tok',
    'Basic caf\u00e9',
  ]) {
    t.same(readBearer({ authorization }), { token: undefined, reason: 'scheme_unsupported' }, authorization)
  }
})

t.test('a non-Bearer scheme with a body token is still scheme_unsupported', async (t) => {
  t.same(readBearer({ authorization: 'Basic dXNlcjpwYXNz', bodyToken: 'tok' }), {
    token: undefined,
    reason: 'scheme_unsupported',
  })
})

t.test('Bearer without a token is header_malformed', async (t) => {
  for (const authorization of ['Bearer', 'bearer', 'Bearer ', 'Bearer    ', 'BEARER\t']) {
    t.throws(() => readBearer({ authorization }), malformed, JSON.stringify(authorization))
  }
})

t.test('a credential that is not a single token68 is header_malformed', async (t) => {
  for (const authorization of [
    'Bearer abc def',
    'Bearer abc, def',
    'Bearer abc,',
    'Bearer a,Bearer b',
    'Bearer abc, Bearer def',
    'Bearer realm="x"',
    'Bearer token="abc"',
    'Bearer abc realm="x"',
    'Bearer "abc"',
    'Bearer abc;def',
    'Bearer abc@def',
    'Bearer abc%2Fdef',
    'Bearer abc*',
    'Bearer abc!',
    'Bearer abc\\',
    'Bearer abc\u0000',
    'Bearer abc\u0001def',
    'Bearer abc\ndef',
    'Bearer abc\r\n',
    'Bearer abc\u007f',
    'Bearer caf\u00e9',
    'Bearer \u{1F511}',
    'Bearer abc\u200b',
  ]) {
    t.throws(() => readBearer({ authorization }), malformed, JSON.stringify(authorization))
  }
})

t.test('a header that does not start with a scheme is header_malformed', async (t) => {
  for (const authorization of [', Bearer tok', '=abc', '"Bearer" tok', '\u00e9 tok', ',', '(Bearer) tok']) {
    t.throws(() => readBearer({ authorization }), malformed, JSON.stringify(authorization))
  }
})

t.test('a scheme followed by something other than a space is header_malformed', async (t) => {
  for (const authorization of ['Bearer,tok', 'Bearer"tok"', 'Basic,x', 'Bearer\ttok', 'Bearer(tok)']) {
    t.throws(() => readBearer({ authorization }), malformed, JSON.stringify(authorization))
  }
})

t.test('two Authorization headers are multiple_credentials, whatever their schemes', async (t) => {
  t.throws(() => readBearer({ authorization: ['Bearer a', 'Bearer b'] }), multiple)
  t.throws(() => readBearer({ authorization: ['Bearer a', 'Basic b'] }), multiple)
  t.throws(() => readBearer({ authorization: ['Basic a', 'Basic b'] }), multiple)
  t.throws(() => readBearer({ authorization: ['', ''] }), multiple)
})

t.test('a header token plus a body token is multiple_credentials (RFC 6750 §3.1)', async (t) => {
  for (const bodyToken of ['tok', '', 42, {}, ['tok'], false]) {
    t.throws(
      () => readBearer({ authorization: 'Bearer tok', bodyToken }),
      multiple,
      JSON.stringify(bodyToken),
    )
  }
  // Twin: null/undefined mean "no body token".
  t.same(readBearer({ authorization: 'Bearer tok', bodyToken: null }), { token: 'tok' })
  t.same(readBearer({ authorization: 'Bearer tok', bodyToken: undefined }), { token: 'tok' })
})

t.test(
  'a header with a malformed bearer credential plus a body token is still multiple_credentials',
  async (t) => {
    // Both methods were used: that is the first thing wrong with the request.
    t.throws(() => readBearer({ authorization: 'Bearer a b', bodyToken: 'tok' }), multiple)
  },
)

t.test('a body token alone is not an accepted method: credentials_missing', async (t) => {
  t.same(readBearer({ bodyToken: 'tok' }), { token: undefined, reason: 'credentials_missing' })
  t.same(readBearer({ authorization: '', bodyToken: 'tok' }), {
    token: undefined,
    reason: 'credentials_missing',
  })
})

t.test('a token longer than maxTokenLength is token_too_large; one at the limit passes', async (t) => {
  t.equal(DEFAULT_MAX_TOKEN_LENGTH, 8192)
  const atLimit = 'a'.repeat(DEFAULT_MAX_TOKEN_LENGTH)
  t.same(readBearer({ authorization: `Bearer ${atLimit}` }), { token: atLimit })
  t.same(readBearer({ authorization: `Bearer    ${atLimit}  ` }), { token: atLimit }, 'spaces do not count')
  t.throws(() => readBearer({ authorization: `Bearer ${atLimit}a` }), tooLarge)
  t.same(readBearer({ authorization: 'Bearer abcd', maxTokenLength: 4 }), { token: 'abcd' })
  t.throws(() => readBearer({ authorization: 'Bearer abcde', maxTokenLength: 4 }), tooLarge)
})

t.test('the size limit is checked before the token characters', async (t) => {
  // An oversized token with bad characters is too large, not malformed: no parsing happened.
  t.throws(() => readBearer({ authorization: `Bearer ${'"'.repeat(20)}`, maxTokenLength: 10 }), tooLarge)
})

t.test('a 1 MiB header is decided from its length and first bytes', async (t) => {
  const big = 'a'.repeat(1024 * 1024)
  t.throws(() => readBearer({ authorization: `Bearer ${big}` }), tooLarge)
  t.throws(() => readBearer({ authorization: `bearer ${big}` }), tooLarge)
  t.throws(() => readBearer({ authorization: `  Bearer ${big}` }), tooLarge)
  t.throws(() => readBearer({ authorization: `Bearer ${big}`, bodyToken: 'x' }), multiple)
  t.same(readBearer({ authorization: `Basic ${big}` }), { token: undefined, reason: 'scheme_unsupported' })
  t.throws(() => readBearer({ authorization: big }), malformed, 'no scheme separator in the window')
  t.throws(() => readBearer({ authorization: ' '.repeat(1024 * 1024) }), malformed)
  t.throws(() => readBearer({ authorization: `Bearer,${big}` }), malformed)
  // Garbage after the window is not looked at, which is the point: still too large.
  t.throws(() => readBearer({ authorization: `Bearer ${'\u0000'.repeat(1024 * 1024)}` }), tooLarge)
})

t.test('rejects a maxTokenLength that is not a positive integer', async (t) => {
  for (const maxTokenLength of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(
      () => readBearer({ authorization: 'Bearer a', maxTokenLength }),
      { name: 'TypeError', message: /maxTokenLength must be a positive integer/ },
      String(maxTokenLength),
    )
  }
})

t.test('error messages never contain the token', async (t) => {
  const secret = 'S3cr3tT0k3nValue'
  for (const input of [
    { authorization: `Bearer ${secret} x` },
    { authorization: `Bearer ${secret}"` },
    { authorization: `Bearer ${secret}`, bodyToken: secret },
    { authorization: [`Bearer ${secret}`, `Bearer ${secret}`] },
    { authorization: `Bearer ${secret}`, maxTokenLength: 4 },
    { authorization: `Bearer,${secret}` },
  ]) {
    const error = t.throws(() => readBearer(input)) as PortcullisError
    t.type(error, PortcullisError)
    t.notMatch(error.message, secret)
    t.notMatch(String(error.stack), secret)
  }
})

t.test('status codes follow the error codes', async (t) => {
  const status = (fn: () => unknown) => (t.throws(fn) as PortcullisError).status
  t.equal(
    status(() => readBearer({ authorization: 'Bearer' })),
    400,
  )
  t.equal(
    status(() => readBearer({ authorization: ['a', 'b'] })),
    400,
  )
  t.equal(
    status(() => readBearer({ authorization: 'Bearer abcde', maxTokenLength: 2 })),
    401,
  )
})

t.test('headers as a real node:http server sees them', async (t) => {
  const seen: Array<() => unknown> = []
  const server = await loopbackServer((req, res) => {
    seen.push(() => readBearer({ authorization: req.headersDistinct.authorization }))
    res.end()
  })
  t.teardown(() => server.close())
  // Raw requests: fetch would refuse or merge some of these headers.
  const send = (headerLines: string) =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.end(
          `GET /mcp?access_token=query HTTP/1.1\r\nHost: x\r\n${headerLines}Connection: close\r\n\r\n`,
        )
      })
      socket.on('data', () => {})
      socket.on('close', () => resolve())
      socket.on('error', reject)
    })

  await send('Authorization: Bearer tok\r\n')
  await send('Authorization:    bearer    tok   \r\n')
  await send('Authorization: Bearer a\r\nAuthorization: Bearer b\r\n')
  await send('')
  await send('Authorization: Basic dXNlcjpwYXNz\r\n')
  await send('Authorization: Bearer caf\u00e9\r\n')

  t.same(seen[0]!(), { token: 'tok' })
  t.same(seen[1]!(), { token: 'tok' }, 'the parser strips field whitespace')
  t.throws(seen[2]!, multiple, 'duplicate headers are visible through headersDistinct')
  t.same(seen[3]!(), { token: undefined, reason: 'credentials_missing' }, 'the query token is never read')
  t.same(seen[4]!(), { token: undefined, reason: 'scheme_unsupported' })
  t.throws(seen[5]!, malformed, 'latin-1 bytes are not token68')
})

t.test('formBodyToken: the access_token of a form-encoded body only (RFC 6750 §2.2)', async (t) => {
  const form = 'application/x-www-form-urlencoded'
  t.ok(isFormContentType(form))
  t.ok(isFormContentType(' Application/X-WWW-Form-URLEncoded ; charset=utf-8'))
  t.notOk(isFormContentType('application/json'))
  t.notOk(isFormContentType('application/x-www-form-urlencoded-extra'))
  t.notOk(isFormContentType(undefined))
  t.notOk(isFormContentType(['application/x-www-form-urlencoded']))
  t.equal(formBodyToken('POST', form, { access_token: 'abc' }), 'abc')
  t.equal(
    formBodyToken('POST', `${form}; charset=utf-8`, { access_token: '' }),
    '',
    'an empty token still counts as sent',
  )
  t.equal(
    formBodyToken('POST', 'application/json', { access_token: 'abc' }),
    undefined,
    'a JSON body carries no token',
  )
  t.equal(formBodyToken('POST', form, { other: 'x' }), undefined)
  t.equal(
    formBodyToken('POST', form, Object.create({ access_token: 'inherited' })),
    undefined,
    'own properties only',
  )
  t.equal(formBodyToken('POST', form, 'access_token=abc'), undefined, 'an unparsed body is not read')
  t.equal(formBodyToken('POST', form, null), undefined)
  // RFC 6750 §2.2: never with GET (nor HEAD); any method with body semantics may.
  t.equal(formBodyToken('GET', form, { access_token: 'abc' }), undefined, 'not on GET')
  t.equal(formBodyToken('HEAD', form, { access_token: 'abc' }), undefined, 'not on HEAD')
  t.equal(formBodyToken('PUT', form, { access_token: 'abc' }), 'abc')
  t.notOk(mayCarryFormToken('GET', form))
  t.ok(mayCarryFormToken('PATCH', `${form}; charset=utf-8`))
  t.notOk(mayCarryFormToken('POST', 'application/json'))
})

t.test(
  'requestFormToken: reads the content type only for a method with a body, the body only for a form',
  async (t) => {
    const form = 'application/x-www-form-urlencoded'
    /** A request whose header and body reads are counted. */
    const request = (contentType: string | undefined, body: unknown) => {
      const reads = { headers: 0, body: 0 }
      const headers = {
        get 'content-type'() {
          reads.headers++
          return contentType
        },
      }
      return {
        reads,
        request: {
          headers,
          get body() {
            reads.body++
            return body
          },
        },
      }
    }
    for (const method of ['GET', 'HEAD']) {
      const { reads, request: req } = request(form, { access_token: 'abc' })
      t.equal(requestFormToken(method, req), undefined, `not on ${method}`)
      t.same(reads, { headers: 0, body: 0 }, `${method}: neither the header nor the body is read`)
    }
    const posted = request(`${form}; charset=utf-8`, { access_token: 'abc' })
    t.equal(requestFormToken('POST', posted.request), 'abc', 'a form body carries it')
    t.same(posted.reads, { headers: 1, body: 1 })
    const json = request('application/json', { access_token: 'abc' })
    t.equal(requestFormToken('POST', json.request), undefined, 'a JSON body carries no token')
    t.same(json.reads, { headers: 1, body: 0 }, 'the body of another media type is not read')
    t.equal(
      requestFormToken('PUT', request(form, Object.create({ access_token: 'x' })).request),
      undefined,
      'own properties only',
    )
    t.equal(
      requestFormToken('DELETE', request(undefined, { access_token: 'abc' }).request),
      undefined,
      'no content type, no form',
    )
  },
)
