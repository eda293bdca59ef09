import { parseChallenges, tokenFingerprint } from '@portcullis/core'
import { METADATA_URL, tokenKit } from '@portcullis/test-kit'
import t from 'tap'
import { notesApp, stableHeaders } from './fixtures/app.js'

// Every reply of the bearer gate, whole: status, every header, body.

const kit = await tokenKit()
const app = await notesApp(kit)
t.teardown(() => app.close())

const EXPOSE = 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After'
const ORIGIN = 'https://inspector.example'
// A browser's request carries Origin and gets the CORS grant; any other gets only `Vary: Origin`.
const BROWSER_CORS = { 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSE }
const NO_CORS = { vary: 'Origin' }

const rejection = (
  status: number,
  challenge: string | undefined,
  body: object,
  cors: Record<string, string> = NO_CORS,
) => {
  const json = JSON.stringify(body)
  return {
    status,
    headers: {
      ...cors,
      'cache-control': 'no-store',
      'content-type': 'application/json; charset=utf-8',
      ...(challenge === undefined ? {} : { 'www-authenticate': challenge }),
      'content-length': String(Buffer.byteLength(json)),
      connection: 'keep-alive',
    },
    body,
  }
}

const request = async (headers: Record<string, string | string[]>, url = '/notes') => {
  const response = await app.inject({ method: 'GET', url, headers })
  return { status: response.statusCode, headers: stableHeaders(response), body: response.json() }
}

t.test('no token: 401, challenge without error, base scope and resource_metadata', async (t) => {
  const body = {
    error: 'invalid_token',
    error_description: 'An access token is required in the Authorization header (Bearer scheme)',
  }
  const challenge = `Bearer scope="notes:read", resource_metadata="${METADATA_URL}"`
  t.same(await request({}), rejection(401, challenge, body))
  t.same(
    await request({ origin: ORIGIN }),
    rejection(401, challenge, body, BROWSER_CORS),
    'a browser can read the challenge',
  )
})

t.test('another scheme counts as no bearer credentials (RFC 6750 §3.1)', async (t) => {
  t.same(
    await request({ authorization: 'Basic YWxpY2U6c2VjcmV0' }),
    rejection(401, `Bearer scope="notes:read", resource_metadata="${METADATA_URL}"`, {
      error: 'invalid_token',
      error_description: 'Only Bearer access tokens are accepted',
    }),
  )
})

t.test('a token in the query string is ignored (OAuth 2.1 §5.1)', async (t) => {
  const token = await kit.mint()
  const reply = await request({}, `/notes?access_token=${token}`)
  t.equal(reply.status, 401)
  t.notMatch(reply.headers['www-authenticate'], /error=/)
})

t.test('malformed header: 400 invalid_request', async (t) => {
  const description =
    'Malformed Authorization header: the Bearer credential must be a single token68 value (RFC 6750 §2.1)'
  t.same(
    await request({ authorization: 'Bearer a b' }),
    rejection(
      400,
      // RFC 6750 §3: the header description is limited to printable ASCII without '"' and '\\'.
      `Bearer error="invalid_request", error_description="${description.replace('§', '?')}", resource_metadata="${METADATA_URL}"`,
      { error: 'invalid_request', error_description: description },
    ),
  )
  t.equal((await request({ authorization: 'Bearer' })).status, 400)
  t.equal((await request({ authorization: 'Bearer\ttoken' })).status, 400)
})

t.test('two Authorization headers: 400 invalid_request', async (t) => {
  const token = await kit.mint()
  const description = 'The request carries more than one Authorization header'
  t.same(
    await request({ authorization: [`Bearer ${token}`, `Bearer ${token}`] }),
    rejection(
      400,
      `Bearer error="invalid_request", error_description="${description}", resource_metadata="${METADATA_URL}"`,
      { error: 'invalid_request', error_description: description },
    ),
  )
})

t.test('oversized token: 401 invalid_token, decided before verification', async (t) => {
  const description = 'The access token is longer than 8192 characters'
  t.same(
    await request({ authorization: `Bearer ${'a'.repeat(20_000)}` }),
    rejection(
      401,
      `Bearer error="invalid_token", error_description="${description}", scope="notes:read", resource_metadata="${METADATA_URL}"`,
      { error: 'invalid_token', error_description: description },
    ),
  )
})

t.test('expired, forged, wrong-audience, wrong-issuer and ID tokens: 401 invalid_token', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const cases: Array<[string, Promise<string>, string]> = [
    ['expired', kit.mint({ exp: now - 3600, iat: now - 7200 }), 'token has expired'],
    ['forged', kit.mint({}, { forged: true }), 'signature does not verify'],
    [
      'wrong audience',
      kit.mint({ aud: 'https://other.example.com/mcp' }),
      'token is meant for another audience',
    ],
    ['wrong issuer', kit.mint({ iss: 'https://evil.example.com' }), 'token issued by another issuer'],
    ['ID token', kit.mint({}, { typ: 'id_token+jwt' }), 'typ "id_token+jwt" is not an access token type'],
  ]
  for (const [name, pending, description] of cases) {
    t.same(
      await request({ authorization: `Bearer ${await pending}` }),
      rejection(
        401,
        `Bearer error="invalid_token", error_description="${description.replaceAll('"', "'")}", scope="notes:read", resource_metadata="${METADATA_URL}"`,
        { error: 'invalid_token', error_description: description },
      ),
      name,
    )
  }
})

t.test('a valid token: 200, request.auth set, CORS headers exposed', async (t) => {
  const token = await kit.mint({ scope: 'notes:read notes:write' })
  for (const [name, origin, cors] of [
    ['from a browser', { origin: ORIGIN }, BROWSER_CORS],
    ['not from a browser (no Origin)', {}, NO_CORS],
  ] as const) {
    const response = await app.inject({
      method: 'GET',
      url: '/notes',
      headers: { authorization: `Bearer ${token}`, ...origin },
    })
    t.equal(response.statusCode, 200, name)
    t.same(response.json(), { sub: 'alice', scopes: ['notes:read', 'notes:write'] }, name)
    t.same(
      stableHeaders(response),
      {
        ...cors,
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(response.body.length),
        connection: 'keep-alive',
      },
      name,
    )
  }
})

t.test('the scheme name is case-insensitive (RFC 9110 §11.1)', async (t) => {
  const token = await kit.mint()
  const response = await app.inject({
    method: 'GET',
    url: '/notes',
    headers: { authorization: `bEaReR ${token}` },
  })
  t.equal(response.statusCode, 200)
})

t.test('challenges parse strictly and carry a fingerprint-free, token-free description', async (t) => {
  const token = await kit.mint({ aud: 'https://other.example.com/mcp' })
  const reply = await request({ authorization: `Bearer ${token}` })
  const [challenge] = parseChallenges(String(reply.headers['www-authenticate']))
  t.equal(challenge?.scheme, 'Bearer')
  const all = JSON.stringify(reply)
  t.notOk(all.includes(token), 'token not echoed')
  t.notOk(all.includes(tokenFingerprint(token)), 'fingerprint not echoed to the client')
})
