import { introspectionVerifier } from '@portcullis/core'
import { refusedPort } from '@portcullis/test-kit'
import t from 'tap'
import {
  type Adapter,
  type Behaviour,
  dropConnection,
  getNotes,
  json,
  RESOURCE,
  slow,
  startFaultApp,
  startUpstream,
} from './fault-fixtures.js'

// The introspection endpoint (RFC 7662) misbehaving: down, slow, answering junk. An endpoint that
// cannot answer says nothing about the token: the request gets 503 with Retry-After, never 401
// (the client would throw away a good token and start a new authorization) and never 200.

const ISSUER = 'https://idp.example.test'
const OPAQUE = 'opaque-token-2YotnFZFEjr1zCsicMWpAA'
const ADAPTERS: Adapter[] = ['fastify', 'express']

const active = (more: Record<string, unknown> = {}) => ({
  active: true,
  iss: ISSUER,
  aud: RESOURCE,
  sub: 'alice',
  client_id: 'notes-client',
  scope: 'notes:read',
  exp: Math.floor(Date.now() / 1000) + 300,
  ...more,
})

function gateFor(endpoint: string, fetchTimeoutMs = 1000) {
  return {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: introspectionVerifier({
      issuer: ISSUER,
      endpoint,
      clientId: 'notes-api',
      clientSecret: 'notes-api-secret',
      audience: RESOURCE,
      fetchTimeoutMs,
    }),
  }
}

const FAULTS: Array<[string, Behaviour]> = [
  ['a dropped connection', dropConnection],
  ['malformed JSON', json('{"active":tru')],
  ['JSON that is not an object', json('[{"active":true}]')],
  ['active that is not a boolean', json({ ...active(), active: 'true' })],
  ['no active member', json({ sub: 'alice', aud: RESOURCE })],
  ['HTTP 500', json({ error: 'server_error' }, 500)],
  ['HTTP 401 (our client credentials refused)', json({ error: 'invalid_client' }, 401)],
  ['HTML', json('<html>maintenance</html>', 200, { 'content-type': 'text/html' })],
  ['an oversized answer (1 MiB)', json({ ...active(), padding: 'x'.repeat(1024 * 1024) })],
  ['a redirect', json('', 302, { location: 'http://127.0.0.1:1/introspect' })],
]

for (const adapter of ADAPTERS) {
  t.test(`${adapter}: introspection endpoint down (closed port): 503, never 401`, async (t) => {
    const port = await refusedPort()
    const app = await startFaultApp(adapter, gateFor(`http://127.0.0.1:${port}/introspect`))
    t.teardown(() => app.close())
    const answer = await getNotes(app, OPAQUE)
    t.equal(answer.status, 503)
    t.match(answer.retryAfter, /^[1-9][0-9]*$/)
    t.equal(answer.challenge, null)
    t.notOk(answer.body.includes(OPAQUE), 'the token is not echoed')
    t.notOk(answer.body.includes(`127.0.0.1:${port}`), 'the client is not told where the endpoint is')
    t.match(app.logs.join('\n'), `127.0.0.1:${port}`, 'the log says which endpoint failed')
  })

  t.test(`${adapter}: slow introspection endpoint: 503 within the fetch timeout`, async (t) => {
    const upstream = await startUpstream(slow(5000, json(active())))
    t.teardown(() => upstream.close())
    const app = await startFaultApp(adapter, gateFor(`${upstream.url}/introspect`, 300))
    t.teardown(() => app.close())
    const answer = await getNotes(app, OPAQUE)
    t.equal(answer.status, 503)
    t.match(answer.retryAfter, /^[1-9][0-9]*$/)
    t.ok(
      answer.ms >= 250 && answer.ms < 300 + 700,
      `answered at the 300 ms timeout (${answer.ms.toFixed(0)} ms)`,
    )
  })

  t.test(`${adapter}: junk from the introspection endpoint: 503 every time`, async (t) => {
    const upstream = await startUpstream(json(active()))
    t.teardown(() => upstream.close())
    const app = await startFaultApp(adapter, gateFor(`${upstream.url}/introspect`))
    t.teardown(() => app.close())
    for (const [name, behaviour] of FAULTS) {
      upstream.behave(behaviour)
      const answer = await getNotes(app, OPAQUE)
      t.equal(answer.status, 503, `${name}: 503`)
      t.match(answer.retryAfter, /^[1-9][0-9]*$/, `${name}: Retry-After`)
      t.equal(answer.challenge, null, `${name}: no challenge`)
      t.ok(answer.ms < 2000, `${name}: bounded`)
      // CWE-209: what failed upstream is for the operator's log, not for the client.
      t.notOk(
        answer.body.includes(upstream.url.slice('http://'.length)),
        `${name}: no endpoint address in the answer`,
      )
      t.notMatch(
        answer.body,
        /client credentials|clientSecret/,
        `${name}: no configuration advice in the answer`,
      )
    }
    const details = app.logs
      .map((line) => JSON.parse(line))
      .map((entry) => entry.detail ?? entry.fields?.detail)
    t.ok(
      details.some(
        (detail) =>
          typeof detail === 'string' && detail.includes("refused the resource server's client credentials"),
      ),
      'the log explains each failure (here: our credentials were refused)',
    )
    // Failures are not remembered: once the endpoint answers, its answer counts.
    upstream.behave(json(active()))
    t.equal((await getNotes(app, OPAQUE)).status, 200, 'recovered: an active token is accepted')
  })

  t.test(`${adapter}: what a healthy endpoint says is still checked`, async (t) => {
    const upstream = await startUpstream(json({ active: false }))
    t.teardown(() => upstream.close())
    const app = await startFaultApp(adapter, gateFor(`${upstream.url}/introspect`))
    t.teardown(() => app.close())
    const answers: Array<[string, Record<string, unknown>]> = [
      ['inactive', { active: false }],
      ['active without aud (MCP needs audience binding)', active({ aud: undefined })],
      ['active for another resource', active({ aud: 'https://other.example.test/mcp' })],
      ['active from another issuer', active({ iss: 'https://evil.example' })],
      ['active but expired', active({ exp: 1 })],
      ['active refresh token', active({ token_type: 'refresh_token' })],
      ['active sender-constrained token', active({ cnf: { jkt: 'abc' } })],
    ]
    for (const [index, [name, body]] of answers.entries()) {
      upstream.behave(json(body))
      // A token per answer: answers are cached by token.
      const answer = await getNotes(app, `${OPAQUE}-${index}`)
      t.equal(answer.status, 401, `${name}: 401`)
      t.match(answer.challenge, /^Bearer error="invalid_token"/, `${name}: invalid_token`)
    }
  })
}
