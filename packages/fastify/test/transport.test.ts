import { connect, createServer } from 'node:net'
import { jwtVerifier } from '@portcullis/core'
import portcullis from '@portcullis/fastify'
import { ISSUER, RESOURCE, tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { notesApp, notesOptions, stableHeaders } from './fixtures/app.js'

// Over real sockets: what Node's HTTP parser does to repeated headers, form bodies, and a key
// set that cannot be reached.

const kit = await tokenKit()

/**
 * Sends raw HTTP/1.1 bytes (ending with `Connection: close`) and returns the status line and
 * headers of the answer. The socket is not half-closed: Node's server aborts a request still
 * being answered (a signature checked on the thread pool, a key set fetched) when the client ends.
 */
function rawRequest(port: number, request: string): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => {
      data += chunk
    })
    socket.on('error', reject)
    socket.on('close', () => {
      const head = data.split('\r\n\r\n')[0] ?? ''
      resolve({ status: Number(head.split(' ')[1]), head })
    })
  })
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

t.test(
  'two Authorization header lines on the wire: 400, though Node keeps only the first in headers',
  async (t) => {
    const app = await notesApp(kit)
    t.teardown(() => app.close())
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const token = await kit.mint()
    const one = await rawRequest(
      port,
      `GET /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    )
    t.equal(one.status, 200)
    const two = await rawRequest(
      port,
      `GET /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nauthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    )
    t.equal(two.status, 400)
    t.match(two.head, /www-authenticate: Bearer error="invalid_request"/i)
  },
)

t.test(
  'a form-body access_token: with a header it is 400, alone it is not accepted (RFC 6750 §2.2, §3.1)',
  async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(String(body))))
      },
    )
    await app.register(portcullis, notesOptions(kit))
    app.post('/notes', async (request) => ({ sub: request.auth.extra.sub, body: request.body }))
    const token = await kit.mint()
    const form = { 'content-type': 'application/x-www-form-urlencoded' }

    const both = await app.inject({
      method: 'POST',
      url: '/notes',
      headers: { ...form, authorization: `Bearer ${token}` },
      payload: `access_token=${token}&title=x`,
    })
    t.equal(both.statusCode, 400)
    t.same(both.json(), {
      error: 'invalid_request',
      error_description:
        'The request sends the access token by more than one method (Authorization header and body)',
    })
    t.match(both.headers['www-authenticate'], /^Bearer error="invalid_request"/)

    const bodyOnly = await app.inject({
      method: 'POST',
      url: '/notes',
      headers: form,
      payload: `access_token=${token}`,
    })
    t.equal(bodyOnly.statusCode, 401)
    t.notMatch(bodyOnly.headers['www-authenticate'], /error=/, 'treated as no credentials')

    const headerOnly = await app.inject({
      method: 'POST',
      url: '/notes',
      headers: { ...form, authorization: `Bearer ${token}` },
      payload: 'title=x',
    })
    t.equal(headerOnly.statusCode, 200)
    t.same(headerOnly.json(), { sub: 'alice', body: { title: 'x' } })
  },
)

t.test('the key set on a closed port: 503 temporarily_unavailable with Retry-After', async (t) => {
  const port = await closedPort()
  const app = await notesApp(kit, {
    verifier: jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwksUri: `http://127.0.0.1:${port}/jwks`,
      jwks: { fetchTimeoutMs: 2000 },
    }),
  })
  t.teardown(() => app.close())
  const token = await kit.mint()
  // From a browser (Origin): the CORS grant is on the 503 too, so the client can read it.
  const response = await app.inject({
    method: 'GET',
    url: '/notes',
    headers: { authorization: `Bearer ${token}`, origin: 'https://inspector.example' },
  })
  t.equal(response.statusCode, 503)
  const body = response.json()
  t.equal(body.error, 'temporarily_unavailable')
  t.equal(typeof body.error_description, 'string')
  t.notOk(response.body.includes(token))
  t.same(stableHeaders(response), {
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After',
    'cache-control': 'no-store',
    'content-type': 'application/json; charset=utf-8',
    'retry-after': response.headers['retry-after'],
    'content-length': String(response.body.length),
    connection: 'keep-alive',
  })
  t.match(response.headers['retry-after'], /^[1-9][0-9]*$/)
})
