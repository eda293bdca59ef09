// The CORS rule of protected routes, shared by both adapters and the MCP routes: a request without
// Origin is not a browser's CORS request (Fetch standard §3.1) and gets no grant, only
// `Vary: Origin` (§3.2.5), under '*' as under a list of origins; a request with Origin is answered
// by the policy; another CORS layer's grant or refusal stands.
import {
  applyCorsBeside,
  CORS_EXPOSED_HEADERS,
  type CorsHeadersSoFar,
  type CorsPolicy,
  corsHeadersBeside,
  corsPolicy,
  exposeHeadersAtSend,
} from '@portcullis/core/adapter'
import t from 'tap'

const ALLOWED = 'https://inspector.example'
const OTHER = 'https://elsewhere.example'
const EXPOSE = CORS_EXPOSED_HEADERS.join(', ')
const NOTHING_SO_FAR: CorsHeadersSoFar = { allowOrigin: undefined, vary: undefined, exposeHeaders: undefined }

const POLICIES: ReadonlyArray<readonly [string, CorsPolicy]> = [
  ["'*' (the default)", corsPolicy()],
  ['a list of origins', corsPolicy({ origin: [ALLOWED] })],
]

t.test('no Origin: no grant and no exposed headers, only Vary: Origin, under either policy', async (t) => {
  for (const [name, policy] of POLICIES) {
    t.same(corsHeadersBeside(policy, undefined, NOTHING_SO_FAR), { Vary: 'Origin' }, name)
    t.same(
      corsHeadersBeside(policy, ['https://a.example', 'https://b.example'], NOTHING_SO_FAR),
      { Vary: 'Origin' },
      `${name}: an Origin that is not one string is no Origin`,
    )
    t.same(policy.responseHeaders(undefined), { Vary: 'Origin' }, `${name}: responseHeaders`)
    t.same(
      policy.preflight(undefined, ['GET', 'POST']),
      { status: 204, headers: { Vary: 'Origin', 'Content-Length': '0' } },
      `${name}: a preflight-shaped request without Origin is refused a grant`,
    )
    t.equal(exposeHeadersAtSend(policy, undefined, undefined), undefined, `${name}: nothing to add at send`)

    const written = new Map<string, string>()
    applyCorsBeside(policy, undefined, written, {
      get: (h, header) => h.get(header.toLowerCase()),
      set: (h, header, value) => void h.set(header.toLowerCase(), value),
    })
    t.same([...written], [['vary', 'Origin']], `${name}: applied`)
  }
})

t.test('no Origin, another layer set Vary without a grant: its names kept, Origin added', async (t) => {
  for (const [name, policy] of POLICIES) {
    t.same(
      corsHeadersBeside(policy, undefined, { ...NOTHING_SO_FAR, vary: 'Accept-Encoding' }),
      { Vary: 'Accept-Encoding, Origin' },
      name,
    )
  }
})

t.test('another layer granted without Origin: its grant stands, the exposed headers merged', async (t) => {
  // A layer such as @fastify/cors or the cors package with origin '*' sets the grant on every answer.
  for (const [name, policy] of POLICIES) {
    t.same(
      corsHeadersBeside(policy, undefined, {
        allowOrigin: '*',
        vary: undefined,
        exposeHeaders: 'X-Trace, mcp-session-id',
      }),
      {
        'Access-Control-Expose-Headers':
          'X-Trace, mcp-session-id, WWW-Authenticate, Mcp-Protocol-Version, Retry-After',
      },
      name,
    )
    t.same(
      corsHeadersBeside(policy, undefined, { ...NOTHING_SO_FAR, allowOrigin: '*' }),
      { 'Access-Control-Expose-Headers': EXPOSE },
      `${name}: no list before`,
    )
    t.equal(
      exposeHeadersAtSend(policy, '*', 'X-Trace'),
      `X-Trace, ${EXPOSE}`,
      `${name}: a list replaced later is merged again at send`,
    )
  }
})

t.test('with Origin: answered as before', async (t) => {
  const [[, any], [, listed]] = POLICIES as [(typeof POLICIES)[0], (typeof POLICIES)[0]]
  t.same(corsHeadersBeside(any, ALLOWED, NOTHING_SO_FAR), {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': EXPOSE,
  })
  t.same(corsHeadersBeside(any, OTHER, NOTHING_SO_FAR), corsHeadersBeside(any, ALLOWED, NOTHING_SO_FAR))
  t.same(
    corsHeadersBeside(any, 'null', NOTHING_SO_FAR)['Access-Control-Allow-Origin'],
    '*',
    'an opaque origin',
  )
  t.same(corsHeadersBeside(listed, ALLOWED, NOTHING_SO_FAR), {
    'Access-Control-Allow-Origin': ALLOWED,
    Vary: 'Origin',
    'Access-Control-Expose-Headers': EXPOSE,
  })
  t.same(corsHeadersBeside(listed, OTHER, NOTHING_SO_FAR), { Vary: 'Origin' }, 'not listed: no grant')
  t.same(
    corsHeadersBeside(listed, ALLOWED, { ...NOTHING_SO_FAR, vary: 'Origin' }),
    {},
    "another layer's refusal stands",
  )
  t.same(
    corsHeadersBeside(listed, ALLOWED, { ...NOTHING_SO_FAR, vary: 'Accept-Encoding' }),
    {
      'Access-Control-Allow-Origin': ALLOWED,
      Vary: 'Accept-Encoding, Origin',
      'Access-Control-Expose-Headers': EXPOSE,
    },
    "another layer's Vary names kept",
  )
  t.same(any.preflight(ALLOWED, ['GET']).headers, {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET',
    'Access-Control-Allow-Headers':
      'Authorization, Content-Type, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name',
    'Access-Control-Max-Age': '7200',
    'Content-Length': '0',
  })
  t.equal(exposeHeadersAtSend(any, '*', EXPOSE), undefined, 'the list as the gate wrote it: nothing to do')
})

// ES modules are strict: writing to the frozen shared answer throws.
t.test('the answer for no Origin cannot be changed by a caller', async (t) => {
  const policy = corsPolicy()
  const first = corsHeadersBeside(policy, undefined, NOTHING_SO_FAR) as Record<string, string>
  t.throws(() => {
    first.Vary = 'Cookie'
  })
  t.same(corsHeadersBeside(policy, undefined, NOTHING_SO_FAR), { Vary: 'Origin' })
})
