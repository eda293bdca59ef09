import { boundedFetch, FetchFailure, fetchJson } from '@portcullis/core'
import { loopbackServer, refusedPort, rejectionOf, sendJson, sleep } from '@portcullis/test-kit'
import t, { type Test } from 'tap'

/** The FetchFailure a call rejects with. */
async function failure(t: Test, promise: Promise<unknown>) {
  const err = await rejectionOf(promise)
  t.type(err, FetchFailure)
  return err as FetchFailure
}

t.test('fetchJson returns a JSON object and asks for JSON', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 200, { ok: true }))
  t.teardown(server.close)
  const res = await fetchJson(`${server.origin}/doc`)
  t.same(res.json, { ok: true })
  t.equal(res.status, 200)
  t.equal(server.requests[0]?.headers.accept, 'application/json')
})

t.test('a caller Accept header wins, whatever its case', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 200, {}))
  t.teardown(server.close)
  await fetchJson(`${server.origin}/`, { headers: { Accept: 'application/jwk-set+json' } })
  t.equal(server.requests[0]?.headers.accept, 'application/jwk-set+json')
})

t.test('POST sends method, headers and body', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 200, {}))
  t.teardown(server.close)
  await fetchJson(`${server.origin}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'token=abc',
  })
  const seen = server.requests[0]!
  t.equal(seen.method, 'POST')
  t.equal(seen.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(seen.body, 'token=abc')
})

t.test('no answer within the deadline is a timeout, promptly', async (t) => {
  const server = await loopbackServer(() => {}) // never answers
  t.teardown(server.close)
  const started = Date.now()
  const err = await failure(t, boundedFetch(`${server.origin}/`, { timeoutMs: 150 }))
  const elapsed = Date.now() - started
  t.equal(err.kind, 'timeout')
  t.match(err.message, /150 ms/)
  t.ok(elapsed >= 140 && elapsed < 2000, `gave up after ${elapsed} ms`)
})

t.test('a body that trickles past the deadline is a timeout', async (t) => {
  const server = await loopbackServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"a":')
    await sleep(1000)
    res.end('1}')
  })
  t.teardown(server.close)
  const started = Date.now()
  const err = await failure(t, fetchJson(`${server.origin}/`, { timeoutMs: 200 }))
  t.equal(err.kind, 'timeout')
  t.equal(err.status, 200)
  t.ok(Date.now() - started < 900, 'did not wait for the body to finish')
})

t.test('a declared Content-Length over the limit is refused before reading', async (t) => {
  const server = await loopbackServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 10_000_000 })
    res.write('{') // the rest never comes: we must not wait for it
  })
  t.teardown(server.close)
  const err = await failure(t, fetchJson(`${server.origin}/`, { maxBytes: 1024, timeoutMs: 2000 }))
  t.equal(err.kind, 'too_large')
  t.match(err.message, /10000000 bytes exceeds the 1024-byte limit/)
})

t.test('a streamed (chunked) body over the limit is cut off', async (t) => {
  const total = 64 * 1024 * 1024
  let written = 0
  let closed = false
  const server = await loopbackServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }) // no length: chunked
    res.on('close', () => {
      closed = true
    })
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    while (written < total && !res.destroyed) {
      written += chunk.length
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done).off('close', done)
            resolve()
          }
          res.on('drain', done).on('close', done)
        })
      }
    }
    res.end()
  })
  t.teardown(server.close)
  const err = await failure(t, fetchJson(`${server.origin}/`, { maxBytes: 16 * 1024 }))
  t.equal(err.kind, 'too_large')
  t.match(err.message, /16384-byte limit/)
  await sleep(100)
  t.ok(closed, 'the connection was dropped')
  t.ok(written < total / 2, `server stopped after ${written} of ${total} bytes`)
})

t.test('a body exactly at the limit is accepted', async (t) => {
  const text = JSON.stringify({ pad: 'x'.repeat(100) })
  const server = await loopbackServer((_req, res) => res.end(text))
  t.teardown(server.close)
  const res = await fetchJson(`${server.origin}/`, { maxBytes: Buffer.byteLength(text) })
  t.equal((res.json as { pad: string }).pad.length, 100)
})

t.test('bodies that are not a JSON object are malformed', async (t) => {
  const bodies: Record<string, string> = {
    '/html': '<html>login</html>',
    '/array': '[1,2]',
    '/null': 'null',
    '/string': '"x"',
    '/number': '42',
    '/empty': '',
    '/truncated': '{"a":',
  }
  const server = await loopbackServer((req, res) => res.end(bodies[req.url ?? ''] ?? '{}'))
  t.teardown(server.close)
  for (const path of Object.keys(bodies)) {
    const err = await failure(t, fetchJson(`${server.origin}${path}`))
    t.equal(err.kind, 'malformed', path)
    t.equal(err.status, 200)
    t.equal(err.url, `${server.origin}${path}`)
  }
})

t.test('a UTF-8 byte-order mark does not break JSON', async (t) => {
  const server = await loopbackServer((_req, res) => res.end('\uFEFF{"a":1}'))
  t.teardown(server.close)
  t.same((await fetchJson(server.origin)).json, { a: 1 })
})

t.test('a refused connection is a network failure', async (t) => {
  const port = await refusedPort()
  const err = await failure(t, fetchJson(`http://127.0.0.1:${port}/`))
  t.equal(err.kind, 'network')
  t.match(err.message, /ECONNREFUSED/)
})

t.test('a 5xx is an http_status failure carrying the status, even with a huge body', async (t) => {
  const server = await loopbackServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(502, { 'content-length': 5_000_000 })
      res.write('x')
      return
    }
    sendJson(res, 503, { error: 'down' })
  })
  t.teardown(server.close)
  const err = await failure(t, fetchJson(`${server.origin}/`))
  t.equal(err.kind, 'http_status')
  t.equal(err.status, 503)
  t.match(err.message, /HTTP 503/)
  const big = await failure(t, fetchJson(`${server.origin}/big`, { maxBytes: 1024, timeoutMs: 2000 }))
  t.equal(big.kind, 'http_status')
  t.equal(big.status, 502)
})

t.test('acceptStatus lets a caller read chosen statuses', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 401, { error: 'invalid_client' }))
  t.teardown(server.close)
  const res = await fetchJson(server.origin, { acceptStatus: (s) => s === 200 || s === 401 })
  t.equal(res.status, 401)
  t.same(res.json, { error: 'invalid_client' })
})

t.test('redirects are not followed', async (t) => {
  const target = await loopbackServer((_req, res) => sendJson(res, 200, { moved: true }))
  t.teardown(target.close)
  const server = await loopbackServer((_req, res) => {
    res.writeHead(302, { location: `${target.origin}/` })
    res.end()
  })
  t.teardown(server.close)
  const err = await failure(t, fetchJson(server.origin))
  t.equal(err.kind, 'http_status')
  t.equal(err.status, 302)
  t.equal(target.count(), 0, 'the redirect target was never contacted')
})

t.test('only http and https URLs are fetched', async (t) => {
  for (const url of ['data:application/json,{"issuer":"x"}', 'file:///etc/passwd', 'ftp://127.0.0.1/']) {
    const err = await failure(t, fetchJson(url))
    t.equal(err.kind, 'network', url)
    t.match(err.message, /unsupported URL scheme/)
  }
  const bad = await failure(t, fetchJson('not a url'))
  t.match(bad.message, /not a valid URL/)
})
