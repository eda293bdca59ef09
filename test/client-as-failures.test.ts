// An authorization server that is down, slow or answers junk: @portcullis/client fails with a
// typed TokenRequestError within its bounds, never hangs, and never calls the resource without a token.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { authFetch, clientCredentials, TokenRequestError } from '@portcullis/client'
import t, { type Test } from 'tap'
import { startClientStack } from './fixtures/client-stack.js'
import { freePort, notesEndpoint } from './fixtures/journey-stack.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A misbehaving authorization server on a loopback port. */
async function badServer(t: Test, handler: Handler): Promise<string> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const TIMEOUT_MS = 1500
// Not a performance bound: far above the deadline, far below a hang.
const HANG_BOUND_MS = 20_000

async function failure(
  t: Test,
  options: { tokenEndpoint?: string; issuer?: string },
  resourceHits: { n: number },
) {
  const fetch = authFetch(
    clientCredentials({
      ...options,
      clientId: 'c',
      clientSecret: 's',
      resource: 'http://127.0.0.1:9/mcp',
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: 4096,
    }),
    {
      fetch: async (input, init) => {
        resourceHits.n++
        return globalThis.fetch(input, init)
      },
    },
  )
  const started = Date.now()
  const error = await fetch('http://127.0.0.1:9/mcp').then(
    () => undefined,
    (e: unknown) => e,
  )
  const elapsed = Date.now() - started
  t.ok(error instanceof TokenRequestError, `a TokenRequestError (${(error as Error)?.message})`)
  t.ok(elapsed < HANG_BOUND_MS, `failed within bounds (${elapsed} ms)`)
  return error as TokenRequestError
}

const json =
  (body: unknown, status = 200): Handler =>
  (req, res) => {
    req.resume()
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }

t.test('down, slow or junk: a typed error within bounds', async (t) => {
  const hits = { n: 0 }
  const cases: Array<{
    name: string
    handler?: Handler
    kind: string
    status?: number
    transient?: boolean
  }> = [
    { name: 'nothing listens', kind: 'network', transient: true },
    { name: 'accepts, never answers', handler: () => {}, kind: 'timeout', transient: true },
    {
      name: 'headers, then a body that never ends',
      handler: (req, res) => {
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write('{"access_token":"')
      },
      kind: 'timeout',
      transient: true,
    },
    {
      name: 'a declared 10 MB body',
      handler: (req, res) => {
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) })
        res.write('{')
      },
      kind: 'too_large',
      transient: true,
    },
    {
      name: 'an endless chunked body',
      handler: (req, res) => {
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json' })
        const chunk = 'x'.repeat(1024)
        const timer = setInterval(() => res.write(chunk), 1)
        res.on('close', () => clearInterval(timer))
      },
      kind: 'too_large',
      transient: true,
    },
    {
      name: 'an HTML error page',
      handler: (req, res) => {
        req.resume()
        res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>')
      },
      kind: 'http_status',
      status: 502,
      transient: true,
    },
    {
      name: 'HTML with status 200',
      handler: (req, res) => {
        req.resume()
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>')
      },
      kind: 'malformed',
      transient: true,
    },
    {
      name: 'JSON without access_token',
      handler: json({ token_type: 'Bearer', expires_in: 60 }),
      kind: 'malformed',
      transient: true,
    },
    { name: 'a JSON array', handler: json([1, 2]), kind: 'malformed', transient: true },
    {
      name: 'a DPoP-bound token',
      handler: json({ access_token: 'a', token_type: 'DPoP', expires_in: 60 }),
      kind: 'invalid_token_response',
      transient: false,
    },
    {
      name: 'an RFC 6749 §5.2 error',
      handler: json({ error: 'invalid_scope', error_description: 'no such scope' }, 400),
      kind: 'oauth_error',
      transient: false,
      status: 400,
    },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const origin =
        c.handler === undefined ? `http://127.0.0.1:${await freePort()}` : await badServer(t, c.handler)
      const error = await failure(t, { tokenEndpoint: `${origin}/token` }, hits)
      t.match(error, { kind: c.kind, issuer: `${origin}/token` }, `kind ${c.kind}`)
      if (c.status !== undefined) t.equal(error.status, c.status)
      t.equal(error.transient, c.transient, 'transient when asking later may help')
    })
  }
  t.equal(hits.n, 0, 'the resource server was never called without a token')
})

t.test('discovery that fails: a typed error naming the issuer', async (t) => {
  const hits = { n: 0 }
  const html = await badServer(t, (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>')
  })
  let error = await failure(t, { issuer: html }, hits)
  t.match(error, { kind: 'malformed', message: /no usable authorization server metadata/ })

  const impostor = await badServer(
    t,
    json({ issuer: 'https://someone-else.example', token_endpoint: 'https://someone-else.example/token' }),
  )
  error = await failure(t, { issuer: impostor }, hits)
  t.match(
    error,
    { kind: 'malformed', message: /issuer/ },
    'metadata for another issuer is refused (RFC 8414 §3.3)',
  )

  const silent = await badServer(t, () => {})
  error = await failure(t, { issuer: silent }, hits)
  t.match(error, { kind: 'timeout' }, 'a silent issuer: one timeout, not one per metadata document')
  t.equal(hits.n, 0)
})

t.test('the authorization server goes down: the held token serves until it expires', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const clock = { offset: 0 }
  const fetch = authFetch(
    clientCredentials({
      issuer: stack.idp.issuer,
      clientId: stack.reporter.client_id,
      clientSecret: stack.reporter.client_secret,
      resource: notes.resource,
      timeoutMs: 2000,
    }),
    { now: () => Date.now() / 1000 + clock.offset },
  )
  const held = await fetch.token()
  const first = await fetch(notes.metadataUrl)
  t.equal(first.status, 200)
  await first.body?.cancel()
  await stack.idp.close()

  clock.offset = held.expiresAt! - Date.now() / 1000 - 30 // due, not expired
  const during = await fetch(notes.metadataUrl)
  t.equal(during.status, 200, 'a failed proactive renewal falls back to the still-valid token')
  await during.body?.cancel()
  t.equal((await fetch.token()).token, held.token)

  clock.offset = held.expiresAt! - Date.now() / 1000 + 5 // expired
  await t.rejects(
    fetch(notes.metadataUrl),
    { name: 'TokenRequestError', kind: 'network' },
    'an expired token is not sent',
  )
})
