import { decodeCompactJwt, type PortcullisError } from '@portcullis/core'
import { generateKeyPair, SignJWT } from 'jose'
import t from 'tap'
import { decodeBase64url, peekIssuer } from '../src/token/compact-jwt.js'

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')
const part = (json: unknown) => b64(JSON.stringify(json))
const compact = (header: string, payload: string, signature = b64('signature')) =>
  `${header}.${payload}.${signature}`

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    const { code, reason } = error as PortcullisError
    return code === 'invalid_token' ? reason : `unexpected code ${code}`
  }
}

t.test('decodes a jose-signed token', async (t) => {
  const { privateKey } = await generateKeyPair('ES256')
  const token = await new SignJWT({ iss: 'https://as.example', scope: 'a b' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .sign(privateKey)
  const decoded = decodeCompactJwt(token)
  t.same(decoded.header, { alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
  t.same(decoded.payload, { iss: 'https://as.example', scope: 'a b' })
  t.equal(decoded.signingInput, token.slice(0, token.lastIndexOf('.')))
  t.equal(decoded.signature.length, 64)
  t.equal(peekIssuer(token), 'https://as.example')
})

t.test('part count', async (t) => {
  const h = part({ alg: 'RS256' })
  const p = part({ a: 1 })
  t.equal(
    reasonOf(() => decodeCompactJwt(`${h}.${p}`)),
    'token_malformed',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(`${h}.${p}.${b64('s')}.x`)),
    'token_malformed',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt('')),
    'token_malformed',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(42 as unknown as string)),
    'token_malformed',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(`${part({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`)),
    'token_encrypted',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, p))),
    undefined,
  )
})

t.test('strict base64url', async (t) => {
  const h = part({ alg: 'RS256' })
  const p = part({ sub: 'x' })
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(`${h}=`, p))),
    'token_malformed',
    'padding',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, p, 'ab+/'))),
    'token_malformed',
    'base64 alphabet',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, p, 'abcde'))),
    'token_malformed',
    'impossible length',
  )
  t.equal(decodeCompactJwt(compact(h, p, '')).signature.length, 0, 'empty signature (alg none) decodes')
  t.equal(
    reasonOf(() => decodeCompactJwt(compact('', p))),
    'token_malformed',
    'empty header',
  )
  // 'QQ' is the canonical spelling of one byte 0x41; 'QR' sets spare bits and decodes the same.
  t.same(decodeBase64url('QQ'), Buffer.from('A'))
  t.equal(decodeBase64url('QR'), undefined)
  t.same(decodeBase64url('QUI'), Buffer.from('AB'))
  t.equal(decodeBase64url('QUJ'), undefined)
  const sig = b64('sig')
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, p, sig))),
    undefined,
  )
})

t.test(
  'base64url is accepted exactly when it is the canonical spelling of its bytes (no character aliases another)',
  async (t) => {
    // The reference: decode, encode again, compare. Every string of up to 3 characters over the
    // alphabet and the characters Node's decoder would skip or read as another alphabet, then longer
    // strings made from them.
    const canonical = (text: string) => Buffer.from(text, 'base64url').toString('base64url') === text
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    // Beyond Latin-1, Node reads a character's low byte: \u0141 is read as A, \u012d as -, \u015f as _.
    const odd = [
      '+',
      '/',
      '=',
      ' ',
      '\n',
      '.',
      '\u0000',
      'é',
      '€',
      '\ud83d',
      '\u0141',
      '\u0144',
      '\u012d',
      '\u015f',
      '\u{1f600}',
    ]
    const chars = [...'AQgw_-z9', ...odd]
    let checked = 0
    let disagreements = 0
    const check = (text: string) => {
      checked++
      const bytes = decodeBase64url(text)
      const expected = canonical(text)
      if ((bytes !== undefined) !== expected) disagreements++
      else if (bytes !== undefined && !bytes.equals(Buffer.from(text, 'base64url'))) disagreements++
    }
    const all = [...alphabet, ...odd]
    check('')
    for (const a of all) {
      check(a)
      for (const b of all) {
        check(a + b)
        for (const c of chars) check(a + b + c)
      }
    }
    for (const stem of ['QUJD', 'QUJDRA', 'QUJDREU', 'eyJhbGciOiJFUzI1NiJ9']) {
      for (let at = 0; at <= stem.length; at++) {
        for (const c of odd) check(stem.slice(0, at) + c + stem.slice(at))
      }
      for (const c of alphabet) check(stem + c)
    }
    t.ok(checked > 50_000, `${checked} strings checked`)
    t.equal(disagreements, 0, 'no string where the fast check and re-encoding disagree')
  },
)

t.test('JSON objects only, UTF-8 only', async (t) => {
  const h = part({ alg: 'RS256' })
  const p = part({ sub: 'x' })
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(b64('[1]'), p))),
    'token_malformed',
    'array header',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(b64('null'), p))),
    'token_malformed',
    'null header',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, b64('"x"')))),
    'token_malformed',
    'string payload',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, b64('{"a":')))),
    'token_malformed',
    'broken JSON',
  )
  t.equal(
    reasonOf(() =>
      decodeCompactJwt(compact(h, b64(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])))),
    ),
    'token_malformed',
    'invalid UTF-8',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, b64('\ufeff{"sub":"x"}')))),
    'token_malformed',
    'BOM',
  )
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(h, b64('{"sub":"é"}')))),
    undefined,
    'UTF-8 text',
  )
})

t.test('duplicate member names', async (t) => {
  const h = part({ alg: 'RS256' })
  const dup = (json: string) => reasonOf(() => decodeCompactJwt(compact(h, b64(json))))
  t.equal(dup('{"sub":"a","sub":"b"}'), 'token_malformed')
  t.equal(dup('{"sub":"a","s\\u0075b":"b"}'), 'token_malformed', 'escaped duplicate')
  t.equal(dup('{"x":{"a":1,"a":2}}'), 'token_malformed', 'nested duplicate')
  t.equal(dup('{"x":[{"a":1,"a":2}]}'), 'token_malformed', 'duplicate inside an array')
  t.equal(
    reasonOf(() => decodeCompactJwt(compact(b64('{"alg":"RS256","alg":"none"}'), part({})))),
    'token_malformed',
  )
  t.equal(
    dup('{"a":"x:y","b":"\\":\\"","c":{"a":1},"d":[{"a":2}],"__proto__":1}'),
    undefined,
    'colons in strings',
  )
  t.equal(dup('{"a":"\\\\","a":1}'), 'token_malformed', 'duplicate after a string ending in a backslash')
  t.equal(dup('{"a":"\\\\\\":","b":1}'), undefined, 'escaped quote after escaped backslash')
  t.equal(dup('{ "a" : 1 , "b" : { "c" : [ 1 , { "d" : ":" } ] } }'), undefined, 'whitespace')
  t.equal(dup('{ "a" : 1 , "b" : 2 , "a" : 3 }'), 'token_malformed', 'duplicate with whitespace')
  t.equal(dup('{}'), undefined)
  const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)
  t.equal(dup(deep), undefined, 'deep nesting does not overflow')
})

t.test('header members', async (t) => {
  const p = part({ sub: 'x' })
  const header = (h: unknown) => reasonOf(() => decodeCompactJwt(compact(part(h), p)))
  t.equal(header({}), 'header_invalid', 'no alg')
  t.equal(header({ alg: '' }), 'header_invalid', 'empty alg')
  t.equal(header({ alg: 1 }), 'header_invalid', 'numeric alg')
  t.equal(header({ alg: 'RS256', kid: 1 }), 'header_invalid')
  t.equal(header({ alg: 'RS256', typ: ['at+jwt'] }), 'header_invalid')
  t.equal(header({ alg: 'RS256', cty: {} }), 'header_invalid')
  t.equal(header({ alg: 'RS256', crit: [] }), 'header_invalid')
  t.equal(header({ alg: 'RS256', crit: 'exp' }), 'header_invalid')
  t.equal(header({ alg: 'RS256', crit: [''] }), 'header_invalid')
  t.equal(header({ alg: 'RS256', cty: 'JWT' }), 'token_nested')
  t.equal(header({ alg: 'RS256', cty: 'jwt' }), 'token_nested')
  t.equal(header({ alg: 'RS256', kid: 'k', typ: 'at+jwt', cty: 'json', crit: ['x'], x: 1 }), undefined)
})

t.test('peekIssuer never throws', async (t) => {
  const h = part({ alg: 'RS256' })
  t.equal(peekIssuer(compact(h, part({ iss: 'https://a.example' }))), 'https://a.example')
  t.equal(peekIssuer(compact(h, part({ iss: 42 }))), undefined)
  t.equal(peekIssuer(compact(h, part([1]))), undefined)
  t.equal(peekIssuer(compact(h, b64('{nope'))), undefined)
  t.equal(peekIssuer(compact(h, '!!!')), undefined)
  t.equal(peekIssuer('opaque-token'), undefined)
  t.equal(peekIssuer(''), undefined)
  t.equal(peekIssuer(undefined as unknown as string), undefined)
})

t.test('a header seen before is reused, frozen; every header is still checked', async (t) => {
  const h = part({ alg: 'ES256', typ: 'at+jwt', kid: 'reused', crit: ['exp'] })
  const first = decodeCompactJwt(compact(h, part({ sub: 'a' })))
  const second = decodeCompactJwt(compact(h, part({ sub: 'b' })))
  t.equal(second.header, first.header, 'one decoded header for both tokens')
  t.ok(Object.isFrozen(first.header) && Object.isFrozen(first.header.crit))
  t.equal(second.payload.sub, 'b')
  // A header that fails its checks is never remembered, however often it comes.
  const duplicate = b64('{"alg":"ES256","alg":"none"}')
  for (let i = 0; i < 3; i++)
    t.equal(
      reasonOf(() => decodeCompactJwt(compact(duplicate, part({})))),
      'token_malformed',
    )
  const noAlg = part({ typ: 'at+jwt' })
  for (let i = 0; i < 3; i++)
    t.equal(
      reasonOf(() => decodeCompactJwt(compact(noAlg, part({})))),
      'header_invalid',
    )
  // Many distinct headers: each decoded correctly past the bound.
  for (let i = 0; i < 200; i++) {
    t.equal(decodeCompactJwt(compact(part({ alg: 'ES256', kid: `k${i}` }), part({}))).header.kid, `k${i}`)
  }
})
