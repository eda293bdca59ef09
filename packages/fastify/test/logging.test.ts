import { Writable } from 'node:stream'
import {
  portcullisLogRedaction,
  portcullisRequestSerializer,
  redactQueryTokens,
  type TokenVerifier,
  tokenFingerprint,
} from '@portcullis/core'
import { tokenKit } from '@portcullis/test-kit'
import t from 'tap'
import { notesApp } from './fixtures/app.js'

const kit = await tokenKit()

/** A pino destination that keeps every line. */
function logSink() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  return { stream, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

t.test(
  'each rejection is logged once with reason, status and fingerprint, at the chosen level',
  async (t) => {
    const sink = logSink()
    const app = await notesApp(
      kit,
      { onRejection: 'warn' },
      { logger: { level: 'info', stream: sink.stream } },
    )
    t.teardown(() => app.close())
    const expired = await kit.mint({ exp: Math.floor(Date.now() / 1000) - 3600 })
    await app.inject({ method: 'GET', url: '/notes', headers: { authorization: `Bearer ${expired}` } })
    await app.inject({ method: 'GET', url: '/notes' })
    const reader = await kit.mint({ scope: 'notes:read' })
    await app.inject({ method: 'GET', url: '/reports', headers: { authorization: `Bearer ${reader}` } })

    const rejections = sink.records().filter((r) => r.msg === 'request rejected by portcullis')
    t.equal(rejections.length, 3)
    t.match(rejections[0], {
      level: 40,
      reason: 'token_expired',
      status: 401,
      fingerprint: tokenFingerprint(expired),
    })
    t.match(rejections[1], { level: 40, reason: 'credentials_missing', status: 401 })
    t.notOk('fingerprint' in rejections[1]!, 'no token, no fingerprint')
    t.match(rejections[2], {
      level: 40,
      reason: 'scope_insufficient',
      status: 403,
      fingerprint: tokenFingerprint(reader),
      missingScopes: ['reports:read'],
    })
  },
)

t.test('the default level is info', async (t) => {
  const sink = logSink()
  const app = await notesApp(kit, {}, { logger: { level: 'info', stream: sink.stream } })
  t.teardown(() => app.close())
  await app.inject({ method: 'GET', url: '/notes' })
  t.match(
    sink.records().find((r) => r.msg === 'request rejected by portcullis'),
    { level: 30 },
  )
})

t.test('an unexpected verifier failure is logged at error level with the token scrubbed', async (t) => {
  const sink = logSink()
  const leaky: TokenVerifier = {
    async verifyAccessToken(token) {
      throw new Error(`lookup failed for ${token}`)
    },
  }
  const app = await notesApp(kit, { verifier: leaky }, { logger: { level: 'info', stream: sink.stream } })
  t.teardown(() => app.close())
  const token = await kit.mint()
  const response = await app.inject({
    method: 'GET',
    url: '/notes',
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(response.statusCode, 503)
  t.notOk(response.body.includes('lookup failed'), 'no internal detail in the reply')
  const failure = sink.records().find((r) => r.level === 50)
  t.match(failure, { reason: 'internal_error', status: 503, fingerprint: tokenFingerprint(token) })
  t.match(failure, { err: { message: `lookup failed for [token ${tokenFingerprint(token)}]` } })
  t.notOk(sink.lines.join('\n').includes(token))
})

t.test('no token reaches the logs, even with a serializer that logs headers', async (t) => {
  const sink = logSink()
  const app = await notesApp(
    kit,
    {},
    {
      logger: {
        level: 'trace',
        stream: sink.stream,
        redact: portcullisLogRedaction,
        serializers: {
          // The kind of serializer applications write, logging every header.
          req: (request) => ({ ...portcullisRequestSerializer(request), headers: request.headers }),
        },
      },
    },
  )
  app.get('/echo', { config: { public: true } }, async (request) => {
    request.log.info({ headers: request.headers }, 'handler saw headers')
    request.log.info({ request: { headers: request.headers } }, 'handler saw the request')
    return 'ok'
  })
  t.teardown(() => app.close())
  const valid = await kit.mint({ scope: 'notes:read' })
  const expired = await kit.mint({ exp: Math.floor(Date.now() / 1000) - 3600 })
  const forged = await kit.mint({}, { forged: true })
  const tokens = [valid, expired, forged]
  for (const token of tokens) {
    await app.inject({ method: 'GET', url: '/notes', headers: { authorization: `Bearer ${token}` } })
    await app.inject({ method: 'GET', url: '/reports', headers: { authorization: `Bearer ${token}` } })
    await app.inject({ method: 'GET', url: '/echo', headers: { authorization: `Bearer ${token}` } })
    await app.inject({ method: 'GET', url: `/notes?access_token=${token}` })
    await app.inject({
      method: 'GET',
      url: '/notes',
      headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] as never },
    })
  }
  const log = sink.lines.join('\n')
  t.ok(sink.lines.length > 30, 'requests were logged')
  t.match(log, '"authorization":"[redacted]"', 'the headers were logged, redacted')
  t.match(log, 'access_token=[redacted]', 'the query token was logged, redacted')
  for (const token of tokens) {
    t.notOk(log.includes(token), 'no whole token')
    t.notOk(log.includes(token.split('.')[2]!), 'no signature part')
  }
})

t.test('redactQueryTokens', async (t) => {
  t.equal(redactQueryTokens('/mcp?access_token=abc&x=1'), '/mcp?access_token=[redacted]&x=1')
  t.equal(redactQueryTokens('/mcp?x=1&ACCESS_TOKEN=abc'), '/mcp?x=1&ACCESS_TOKEN=[redacted]')
  t.equal(redactQueryTokens('/mcp?access%5Ftoken=abc#f'), '/mcp?access%5Ftoken=[redacted]#f')
  t.equal(redactQueryTokens('/mcp?my_access_token=abc'), '/mcp?my_access_token=abc')
})
