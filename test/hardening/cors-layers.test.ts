// The gate's CORS beside another CORS layer that ran first, on both adapters, with the same
// headers from each: a layer's grant stands (the gate only adds WWW-Authenticate to the exposed
// headers), a layer's refusal (`Vary: Origin` without Allow-Origin) stands, and a layer's other
// `Vary` names are kept. One rule in core (`corsHeadersBeside`), applied by both adapters.
import type { GateOptions } from '@portcullis/core'
import { portcullis as expressPortcullis } from '@portcullis/express'
import { portcullis as fastifyPortcullis } from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { rawExchange } from './raw-http.js'
import { listenExpress, listenFastify, mintToken, reviewGateOptions } from './review-apps.js'

const ALLOWED = 'https://inspector.example'
const OTHER = 'https://elsewhere.example'

/** Headers an earlier CORS layer writes before the gate runs. */
type Layer = ReadonlyArray<readonly [string, string]>

async function start(
  t: Test,
  adapter: 'express' | 'fastify',
  layer: Layer,
  options: Partial<GateOptions>,
): Promise<number> {
  if (adapter === 'express') {
    const app = express()
    app.use((_req, res, next) => {
      for (const [name, value] of layer) res.setHeader(name, value)
      next()
    })
    app.use(expressPortcullis(reviewGateOptions(options)))
    app.get('/notes', (_req, res) => void res.json({ ok: true }))
    return listenExpress(t, app)
  }
  const app = Fastify()
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of layer) reply.header(name, value)
    done()
  })
  await app.register(fastifyPortcullis, reviewGateOptions(options))
  app.get('/notes', async () => ({ ok: true }))
  return listenFastify(t, app)
}

const CORS_HEADERS = ['access-control-allow-origin', 'access-control-expose-headers', 'vary'] as const

async function corsHeaders(port: number, origin: string, token?: string) {
  const response = await rawExchange(port, {
    method: 'GET',
    path: '/notes',
    headers: [
      ['Origin', origin],
      ...(token === undefined ? [] : [['Authorization', `Bearer ${token}`] as const]),
    ],
  })
  return {
    status: response.status,
    ...Object.fromEntries(CORS_HEADERS.map((name) => [name, response.headers.get(name)?.join(', ')])),
  }
}

const EXPOSED = 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After'

const arrangements: Array<{
  name: string
  layer: Layer
  options: Partial<GateOptions>
  origin: string
  expected: Record<(typeof CORS_HEADERS)[number], string | undefined>
}> = [
  {
    name: 'no other layer, an allowed origin',
    layer: [],
    options: { cors: { origin: [ALLOWED] } },
    origin: ALLOWED,
    expected: {
      'access-control-allow-origin': ALLOWED,
      'access-control-expose-headers': EXPOSED,
      vary: 'Origin',
    },
  },
  {
    name: 'an earlier layer refused the origin (Vary: Origin only): its refusal stands',
    layer: [['Vary', 'Origin']],
    options: { cors: { origin: [ALLOWED] } },
    origin: ALLOWED,
    expected: {
      'access-control-allow-origin': undefined,
      'access-control-expose-headers': undefined,
      vary: 'Origin',
    },
  },
  {
    name: 'an earlier layer refused the origin, the gate allows any: the refusal stands',
    layer: [['Vary', 'origin, Accept-Encoding']],
    options: {},
    origin: OTHER,
    expected: {
      'access-control-allow-origin': undefined,
      'access-control-expose-headers': undefined,
      vary: 'origin, Accept-Encoding',
    },
  },
  {
    name: 'an earlier layer granted the origin: its grant stands, the challenge is exposed',
    layer: [
      ['Access-Control-Allow-Origin', OTHER],
      ['Access-Control-Expose-Headers', 'X-Trace'],
      ['Vary', 'Origin'],
    ],
    options: { cors: { origin: [ALLOWED] } },
    origin: OTHER,
    expected: {
      'access-control-allow-origin': OTHER,
      'access-control-expose-headers': `X-Trace, ${EXPOSED}`,
      vary: 'Origin',
    },
  },
  {
    name: 'an earlier layer set another Vary name: kept, Origin added',
    layer: [['Vary', 'Accept-Encoding']],
    options: { cors: { origin: [ALLOWED] } },
    origin: ALLOWED,
    expected: {
      'access-control-allow-origin': ALLOWED,
      'access-control-expose-headers': EXPOSED,
      vary: 'Accept-Encoding, Origin',
    },
  },
  {
    name: 'an earlier layer exposed headers of its own without a grant: the gate grants and keeps them',
    layer: [['Access-Control-Expose-Headers', 'X-Trace']],
    options: {},
    origin: OTHER,
    expected: {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': `X-Trace, ${EXPOSED}`,
      vary: undefined,
    },
  },
]

for (const arrangement of arrangements) {
  t.test(arrangement.name, async (t) => {
    const token = mintToken()
    const answers = []
    for (const adapter of ['express', 'fastify'] as const) {
      const port = await start(t, adapter, arrangement.layer, arrangement.options)
      const refused = await corsHeaders(port, arrangement.origin)
      const allowed = await corsHeaders(port, arrangement.origin, token)
      t.same(refused, { status: 401, ...arrangement.expected }, `${adapter}: the 401`)
      t.same(allowed, { status: 200, ...arrangement.expected }, `${adapter}: the 200`)
      answers.push({ refused, allowed })
    }
    t.same(answers[0], answers[1], 'both adapters send the same CORS headers')
  })
}
