// Audit events on `portcullis:audit`, through both adapters: one per decision (allowed, refused,
// step-up, revoked), with the caller's identity and the token's fingerprint, never the token.
import {
  type AuditEvent,
  jwtVerifier,
  MemoryDenyList,
  onAuditEvent,
  tokenFingerprint,
} from '@portcullis/core'
import { portcullis as expressPortcullis } from '@portcullis/express'
import fastifyPortcullis from '@portcullis/fastify'
import { ISSUER, notesGateOptions, RESOURCE, startJwksIssuer, tokenKit } from '@portcullis/test-kit'
import express from 'express'
import Fastify from 'fastify'
import t from 'tap'
import { startNotesServer } from './fixtures/notes-server.js'

const kit = await tokenKit()

/** Collects the events published while `run` runs. */
async function collect(run: () => Promise<void>): Promise<AuditEvent[]> {
  const events: AuditEvent[] = []
  const stop = onAuditEvent((event) => events.push(event))
  try {
    await run()
  } finally {
    stop()
  }
  return events
}

type Send = (path: string, token?: string) => Promise<number>

async function fastifyApp(denyList: MemoryDenyList): Promise<{ send: Send; close(): Promise<void> }> {
  const app = Fastify()
  await app.register(fastifyPortcullis, { ...notesGateOptions(kit, jwtVerifier), denyList })
  app.get('/notes', async () => ({}))
  app.get('/reports', { config: { scopes: ['reports:read'] } }, async () => ({}))
  return {
    send: async (path, token) =>
      (await app.inject({ url: path, headers: token ? { authorization: `Bearer ${token}` } : {} }))
        .statusCode,
    close: () => app.close(),
  }
}

async function expressApp(denyList: MemoryDenyList): Promise<{ send: Send; close(): Promise<void> }> {
  const { createServer } = await import('node:http')
  const app = express()
  const gate = expressPortcullis({ ...notesGateOptions(kit, jwtVerifier), denyList })
  app.use(gate)
  app.get('/notes', (_req, res) => res.json({}))
  app.get('/reports', gate.requireScopes('reports:read'), (_req, res) => res.json({}))
  const server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    send: async (path, token) =>
      (await fetch(`${origin}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }))
        .status,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

for (const [name, start] of [
  ['fastify', fastifyApp],
  ['express', expressApp],
] as const) {
  t.test(`${name}: one event per decision`, async (t) => {
    const denyList = new MemoryDenyList()
    const app = await start(denyList)
    t.teardown(app.close)
    const reader = await kit.mint({ scope: 'notes:read' })
    const revoked = await kit.mint({ scope: 'notes:read' })
    denyList.add({ fingerprint: tokenFingerprint(revoked), expiresAt: Math.floor(Date.now() / 1000) + 300 })
    const forged = await kit.mint({}, { forged: true })

    const events = await collect(async () => {
      t.equal(await app.send('/notes'), 401)
      t.equal(await app.send('/notes', reader), 200)
      t.equal(await app.send('/reports', reader), 403)
      t.equal(await app.send('/notes', revoked), 401)
      t.equal(await app.send('/notes', forged), 401)
    })
    const caller = {
      issuer: ISSUER,
      subject: 'alice',
      client: 'notes-client',
      fingerprint: tokenFingerprint(reader),
    }
    t.match(events, [
      { version: 1, outcome: 'refused', reason: 'credentials_missing', status: 401, resource: RESOURCE },
      { version: 1, outcome: 'allowed', resource: RESOURCE, scopes: ['notes:read'], ...caller },
      { version: 1, outcome: 'allowed', ...caller },
      {
        version: 1,
        outcome: 'step_up',
        reason: 'scope_insufficient',
        status: 403,
        scopes: ['reports:read'],
        ...caller,
      },
      {
        version: 1,
        outcome: 'revoked',
        reason: 'token_revoked',
        status: 401,
        fingerprint: tokenFingerprint(revoked),
      },
      {
        version: 1,
        outcome: 'refused',
        reason: 'signature_invalid',
        status: 401,
        fingerprint: tokenFingerprint(forged),
      },
    ])
    t.equal(events.length, 6)
    for (const event of events) t.match(event.time, /^\d{4}-\d\d-\d\dT/)
    const text = JSON.stringify(events)
    for (const token of [reader, revoked, forged]) t.notOk(text.includes(token), 'no token in any event')
  })
}

t.test('an MCP tool call without its scope: the step-up names the tool', async (t) => {
  const issuer = await startJwksIssuer()
  t.teardown(issuer.close)
  const server = await startNotesServer(issuer, 'v2')
  t.teardown(server.close)
  const token = await issuer.mint({ sub: 'bob', scope: 'notes:read', aud: server.url })
  const events = await collect(async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'add_note', arguments: { text: 'x' } },
      }),
    })
    t.equal(response.status, 403)
    await response.body?.cancel()
  })
  t.match(events.at(-1), { outcome: 'step_up', tools: ['add_note'], scopes: ['notes:write'], subject: 'bob' })
})
