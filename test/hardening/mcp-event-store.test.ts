// "Also check" of the security review: `transportOptions.eventStore` is one object shared by every
// session's transport, and the SDKs replay whatever stream a Last-Event-ID names. A Last-Event-ID
// from one session (another principal's) must never replay that session's events; resuming one's
// own stream still works. On both adapters, with the SDK's own InMemoryEventStore.
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { authInfoFrom, withScopes } from '@portcullis/core'
import { mcpRoute as expressMcpRoute, portcullis as expressPortcullis } from '@portcullis/express'
import portcullis, { mcpRoute } from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { listenExpress, listenFastify, mintToken, reviewGateOptions } from './review-apps.js'

const PROTOCOL = '2025-11-25' // priming events (resumable streams) from this revision on

const server = () => {
  const mcp = new McpServer({ name: 'events', version: '1.0.0' })
  withScopes(mcp).registerTool('secret', {}, async (extra) => ({
    content: [{ type: 'text' as const, text: `secret-of-${authInfoFrom(extra)?.extra?.sub}` }],
  }))
  return mcp
}

const adapters: Record<string, (t: Test) => Promise<string>> = {
  async fastify(t) {
    const app = Fastify()
    await app.register(portcullis, reviewGateOptions())
    await app.register(mcpRoute, {
      server,
      transport: StreamableHTTPServerTransport,
      transportOptions: { eventStore: new InMemoryEventStore() },
    })
    return `http://127.0.0.1:${await listenFastify(t, app)}/mcp`
  },
  async express(t) {
    const app = express()
    const auth = expressPortcullis(reviewGateOptions())
    app.use(auth)
    const mcp = await expressMcpRoute(auth, {
      server,
      transport: StreamableHTTPServerTransport,
      transportOptions: { eventStore: new InMemoryEventStore() },
    })
    t.teardown(() => mcp.close())
    app.use(mcp)
    return `http://127.0.0.1:${await listenExpress(t, app)}/mcp`
  },
}

interface Exchange {
  status: number
  text: string
  sessionId: string | undefined
}

/** Sends a request and reads its (SSE) answer until `done` says so or 3 s pass, then hangs up. */
async function exchange(
  url: string,
  init: { method: string; token: string; sessionId?: string; lastEventId?: string; body?: unknown },
  done: (text: string) => boolean = () => false,
): Promise<Exchange> {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), 3000)
  const response = await fetch(url, {
    method: init.method,
    signal: abort.signal,
    headers: {
      authorization: `Bearer ${init.token}`,
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': PROTOCOL,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.sessionId === undefined ? {} : { 'mcp-session-id': init.sessionId }),
      ...(init.lastEventId === undefined ? {} : { 'last-event-id': init.lastEventId }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  })
  let text = ''
  try {
    const decoder = new TextDecoder()
    for await (const chunk of response.body ?? []) {
      text += decoder.decode(chunk as Uint8Array, { stream: true })
      if (done(text)) break
    }
  } catch {
    // aborted after the wait: what arrived is the answer
  } finally {
    clearTimeout(timer)
    abort.abort()
  }
  return { status: response.status, text, sessionId: response.headers.get('mcp-session-id') ?? undefined }
}

const eventIds = (text: string) => [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!)

/** A session of `sub` that has called the secret tool: its token, id and the event ids of that call's stream. */
async function sessionWithEvents(url: string, sub: string) {
  const token = mintToken({ sub })
  const init = await exchange(
    url,
    {
      method: 'POST',
      token,
      body: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: sub, version: '1' } },
      },
    },
    (text) => text.includes('"result"'),
  )
  const sessionId = init.sessionId!
  await exchange(url, {
    method: 'POST',
    token,
    sessionId,
    body: { jsonrpc: '2.0', method: 'notifications/initialized' },
  })
  const call = await exchange(
    url,
    {
      method: 'POST',
      token,
      sessionId,
      body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'secret', arguments: {} } },
    },
    (text) => text.includes(`secret-of-${sub}`),
  )
  return { token, sessionId, events: eventIds(call.text), call }
}

for (const [name, start] of Object.entries(adapters)) {
  t.test(`${name}: a Last-Event-ID of another session replays nothing`, async (t) => {
    const url = await start(t)
    const alice = await sessionWithEvents(url, 'alice')
    t.match(alice.call.text, /secret-of-alice/, "alice's call answered on an SSE stream")
    t.ok(alice.events.length >= 2, `a priming event and the answer have ids (${alice.events.length})`)
    const bob = await sessionWithEvents(url, 'bob')
    t.ok(bob.events.length >= 2, "bob's stream has ids too")

    // Bob, on his own session, presents alice's first event id.
    const stolen = await exchange(url, {
      method: 'GET',
      token: bob.token,
      sessionId: bob.sessionId,
      lastEventId: alice.events[0]!,
    })
    t.notMatch(stolen.text, /secret-of-alice/, "alice's events are not replayed to bob")
    t.equal(stolen.status, 400, 'an event id of another session is refused')

    // The same with alice's store id spliced into an id of bob's own (the tag does not fit).
    const [aliceId] = alice.events[0]!.split('~')
    const spliced = bob.events[0]!.replace(/^[^~]+/, aliceId!)
    const forged = await exchange(url, {
      method: 'GET',
      token: bob.token,
      sessionId: bob.sessionId,
      lastEventId: spliced,
    })
    t.notMatch(forged.text, /secret-of-alice/, 'a spliced id replays nothing')
    t.equal(forged.status, 400)

    // Alice's session is hers only: bob cannot resume there at all.
    const elsewhere = await exchange(url, {
      method: 'GET',
      token: bob.token,
      sessionId: alice.sessionId,
      lastEventId: alice.events[0]!,
    })
    t.equal(elsewhere.status, 404, "alice's session is not found for bob")
    t.notMatch(elsewhere.text, /secret-of-alice/)

    // Resumability still works for the owner: alice resumes her stream after its priming event.
    const resumed = await exchange(
      url,
      { method: 'GET', token: alice.token, sessionId: alice.sessionId, lastEventId: alice.events[0]! },
      (text) => text.includes('secret-of-alice'),
    )
    t.equal(resumed.status, 200)
    t.match(resumed.text, /secret-of-alice/, 'alice gets her own event again')
    t.notMatch(resumed.text, /secret-of-bob/, "and nothing of bob's")
  })
}
