// When @portcullis/client renews a token: before expiry (proactively), after a 401 (once), never
// in a loop, once for a storm of concurrent requests; and what it never sends twice.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { authFetch } from '@portcullis/client'
import t, { type Test } from 'tap'
import { reporterFor, startClientStack } from './fixtures/client-stack.js'
import { notesEndpoint } from './fixtures/journey-stack.js'
import { toolResult } from './fixtures/sdk-clients.js'

const CLIENT_INFO = { name: 'client-renewal-test', version: '1.0.0' }

/** A fetch that records the status and Authorization of each exchange. */
function recordingFetch() {
  const log: Array<{ url: string; status: number; authorization: string | null }> = []
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init)
    const response = await globalThis.fetch(request)
    log.push({
      url: request.url,
      status: response.status,
      authorization: request.headers.get('authorization'),
    })
    return response
  }
  return { fetch, log }
}

/** A resource server that refuses the tokens in `refused` (401 invalid_token) and takes any other. */
async function scriptedResource(t: Test, answer?: (token: string) => { status: number; challenge?: string }) {
  const seen: string[] = []
  const refused = new Set<string>()
  const server = createServer((req, res) => {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '')
    seen.push(token)
    req.resume()
    const scripted = answer?.(token)
    if (scripted !== undefined && scripted.status !== 200) {
      res
        .writeHead(scripted.status, scripted.challenge ? { 'www-authenticate': scripted.challenge } : {})
        .end()
      return
    }
    if (refused.has(token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`
  return { url, seen, refused }
}

t.test('a token due for renewal is renewed before the request (proactive refresh)', async (t) => {
  const stack = await startClientStack(t)
  for (const line of ['2.x', '1.x'] as const) {
    t.test(`${line} client`, async (t) => {
      const notes = await notesEndpoint(t, stack.idp, { sdk: line === '2.x' ? 'v2' : 'v1' })
      const clock = { offset: 0 }
      const recorder = recordingFetch()
      const fetch = authFetch(reporterFor(stack, notes.resource, ['notes:read']), {
        fetch: recorder.fetch,
        refreshBeforeExpiry: 60,
        now: () => Date.now() / 1000 + clock.offset,
      })
      const client = line === '2.x' ? new ClientV2(CLIENT_INFO) : new ClientV1(CLIENT_INFO)
      const transport =
        line === '2.x' ? new TransportV2(notes.url, { fetch }) : new TransportV1(notes.url, { fetch })
      await client.connect(transport as never)
      t.teardown(() => client.close())
      const before = stack.tokenRequests.length
      const first = await fetch.token()
      t.equal(stack.tokenRequests.length, before, 'the held token serves while fresh')

      // 30 s before expiry by the client's clock: inside the 60 s margin.
      clock.offset = first.expiresAt! - Date.now() / 1000 - 30
      t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).client, 'reporter')
      t.equal(stack.tokenRequests.length, before + 1, 'one token request, made before the call')
      const second = await fetch.token()
      t.not(second.token, first.token, 'a new token')
      t.equal(recorder.log.at(-1)?.authorization, `Bearer ${second.token}`, 'the call carried the new token')
      t.notOk(
        recorder.log.some((exchange) => exchange.status === 401),
        'the resource server never had to refuse a token',
      )
    })
  }
})

t.test('401 invalid_token → one renewal and the request again', async (t) => {
  const stack = await startClientStack(t)
  // Opaque tokens, verified by introspection: a token revoked at the AS is refused at once.
  const notes = await notesEndpoint(t, stack.idp, { format: 'opaque' })
  const recorder = recordingFetch()
  const fetch = authFetch(reporterFor(stack, notes.resource, ['notes:read']), { fetch: recorder.fetch })
  const revoked = await fetch.token()
  // RFC 7009: the client revokes its own token, which the resource server has never seen.
  const revocation = await globalThis.fetch(stack.idp.endpoints.revocation, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${stack.reporter.client_id}:${stack.reporter.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: revoked.token, token_type_hint: 'access_token' }),
  })
  t.equal(revocation.status, 200, 'revoked at the authorization server')
  const before = stack.tokenRequests.length

  const client = new ClientV2(CLIENT_INFO)
  await client.connect(new TransportV2(notes.url, { fetch }))
  t.teardown(() => client.close())
  t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).client, 'reporter')
  t.match(
    recorder.log[0],
    { status: 401, authorization: `Bearer ${revoked.token}` },
    'the revoked token was refused',
  )
  t.match(recorder.log[1], { status: 200 }, 'the same request again, with a new token')
  t.not(recorder.log[1]?.authorization, recorder.log[0]?.authorization)
  t.equal(stack.tokenRequests.length, before + 1, 'exactly one renewal')
})

t.test('retries are bounded: one renewal per request, maxRetries, nothing to gain', async (t) => {
  const stack = await startClientStack(t)
  const always401 = await scriptedResource(t, () => ({
    status: 401,
    challenge: 'Bearer error="invalid_token"',
  }))
  stack.idp.addResource({ resource: always401.url })

  let before = stack.tokenRequests.length
  const fetch = authFetch(reporterFor(stack, always401.url, ['notes:read']))
  const response = await fetch(always401.url)
  t.equal(response.status, 401, 'a token refused twice: the 401 comes back')
  t.equal(always401.seen.length, 2, 'sent twice, not more')
  t.equal(stack.tokenRequests.length - before, 2, 'the first token and one renewal')

  before = stack.tokenRequests.length
  always401.seen.length = 0
  const noRetry = authFetch(reporterFor(stack, always401.url, ['notes:read']), { maxRetries: 0 })
  t.equal((await noRetry(always401.url)).status, 401)
  t.equal(always401.seen.length, 1, 'maxRetries 0: sent once')
  t.equal(stack.tokenRequests.length - before, 1, 'and no renewal')

  const challenges = [
    ['Basic realm="x"', 'no Bearer challenge'],
    ['Bearer error="invalid_request"', 'a malformed request is not the token'],
    [
      'Bearer error="invalid_token", error="invalid_token"',
      'a challenge no server may send (repeated parameter)',
    ],
  ] as const
  for (const [challenge, why] of challenges) {
    const resource = await scriptedResource(t, () => ({ status: 401, challenge }))
    stack.idp.addResource({ resource: resource.url })
    before = stack.tokenRequests.length
    const once = authFetch(reporterFor(stack, resource.url, ['notes:read']))
    t.equal((await once(resource.url)).status, 401)
    t.equal(resource.seen.length, 1, `${why}: not retried`)
    t.equal(stack.tokenRequests.length - before, 1, `${why}: no renewal`)
  }

  const heldScope = await scriptedResource(t, () => ({
    status: 403,
    challenge: 'Bearer error="insufficient_scope", scope="notes:read"',
  }))
  stack.idp.addResource({ resource: heldScope.url })
  before = stack.tokenRequests.length
  const held = authFetch(reporterFor(stack, heldScope.url, ['notes:read']))
  t.equal((await held(heldScope.url)).status, 403)
  t.equal(heldScope.seen.length, 1, '403 naming scopes already held: nothing a new token would change')
  t.equal(stack.tokenRequests.length - before, 1)
})

t.test('a body that cannot be sent twice is not sent twice', async (t) => {
  const stack = await startClientStack(t)
  const resource = await scriptedResource(t)
  stack.idp.addResource({ resource: resource.url })
  const fetch = authFetch(reporterFor(stack, resource.url, ['notes:read']))
  const first = await fetch.token()
  resource.refused.add(first.token)

  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('streamed'))
      controller.close()
    },
  })
  const response = await fetch(resource.url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit)
  t.equal(response.status, 401, 'the 401 comes back as it came')
  t.equal(resource.seen.length, 1, 'the stream was sent once')
  const renewed = await fetch.token()
  t.not(renewed.token, first.token, 'but the token was renewed for the next request')

  const again = await fetch(resource.url, { method: 'POST', body: 'in memory' })
  t.equal(again.status, 200)
  t.equal(resource.seen.at(-1), renewed.token)

  resource.refused.add(renewed.token)
  const replayed = await fetch(resource.url, { method: 'POST', body: JSON.stringify({ a: 1 }) })
  t.equal(replayed.status, 200, 'a string body is sent again after the renewal')
  t.equal(resource.seen.length, 4)
})

t.test('1,000 concurrent requests at expiry make one token request', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const clock = { offset: 0 }
  const recorder = recordingFetch()
  const fetch = authFetch(reporterFor(stack, notes.resource, ['notes:read']), {
    fetch: recorder.fetch,
    refreshBeforeExpiry: 300,
    now: () => Date.now() / 1000 + clock.offset,
  })
  const first = await fetch.token()
  const before = stack.tokenRequests.length
  // 250 s before expiry by the client's clock: due (the margin is 300 s). A clock moved past expiry
  // would make the new token look expired as well, since the authorization server's clock did not move.
  clock.offset = first.expiresAt! - Date.now() / 1000 - 250

  const responses = await Promise.all(Array.from({ length: 1000 }, () => fetch(notes.metadataUrl)))
  t.ok(
    responses.every((r) => r.status === 200),
    'every request answered',
  )
  await Promise.all(responses.map((r) => r.body?.cancel()))
  t.equal(stack.tokenRequests.length - before, 1, 'exactly one token request at the authorization server')
  const sent = new Set(recorder.log.map((exchange) => exchange.authorization))
  t.equal(recorder.log.length, 1000)
  t.equal(sent.size, 1, 'all 1,000 carried the same token')
  t.not([...sent][0], `Bearer ${first.token}`, 'the renewed one')
  t.equal([...sent][0], `Bearer ${(await fetch.token()).token}`)
  t.equal(stack.tokenRequests.length - before, 1, 'and it is still the one held')
})
