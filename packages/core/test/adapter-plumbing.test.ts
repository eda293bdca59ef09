// The framework-free pieces the adapters share (`@portcullis/core/adapter`): the per-request state
// of a middleware-style adapter, the preflight methods rule, the gate on Node's own request and
// response, and the default reporters. The adapters' suites and `test/matrix` run them end to end.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import {
  type AuthInfo,
  createGate,
  type Gate,
  invalidToken,
  type RejectionLog,
  type TokenVerifier,
} from '@portcullis/core'
import {
  addRouteMethods,
  answerPreflight,
  applyCorsBeside,
  bindingIn,
  bindingOf,
  FALLBACK_METHODS,
  type GateBinding,
  gateInput,
  guardNodeRequest,
  keepBinding,
  keptBinding,
  levelReporters,
  markVerified,
  type NodeRequest,
  nodeAnswering,
  nodeScopeGuard,
  printFailures,
  RouteMethodsBook,
  rememberGate,
  requestStateOf,
  sendReply,
  verifiedAuthBy,
  verifiedAuthOf,
  verifiedBy,
  verifiedCaller,
} from '@portcullis/core/adapter'
import t, { type Test } from 'tap'

const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://idp.example.com'

const verifier: TokenVerifier = {
  verifyAccessToken: async (token): Promise<AuthInfo> => {
    if (token !== 'good') throw invalidToken('token_malformed', 'unknown token')
    return {
      token,
      clientId: 'client-1',
      scopes: ['notes:read'],
      expiresAt: Math.floor(Date.now() / 1000) + 300,
      extra: { sub: 'alice' },
    }
  },
}
const gateOf = (): Gate => createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier })
const quiet = () => {}

t.test('request state: the gates a request went through, and the one that verified it', async (t) => {
  const [a, b] = [gateOf(), gateOf()]
  const req = {}
  const bindingA: GateBinding<object> = { gate: a, onRejection: quiet }
  t.type(bindingOf(req, '@x', quiet), Error, 'no middleware saw it')
  t.match(
    String(bindingOf(req, '@x', quiet)),
    /@x: protect\(\) \/ requireScopes\(\) on a route no portcullis/,
  )
  t.equal(requestStateOf(req), undefined, 'nothing known before a middleware saw it')
  const state = rememberGate(req, bindingA)
  t.equal(rememberGate(req, { gate: a, onRejection: quiet }), state, 'one state object per request')
  t.equal(requestStateOf(req), state)
  t.equal(bindingOf(req, '@x', quiet), bindingA, 'one gate seen (twice): its first binding')
  t.equal(bindingIn(state, '@x', quiet), bindingA, 'the same answer from the state read once')
  rememberGate(req, { gate: b, onRejection: quiet })
  t.match(String(bindingOf(req, '@x', quiet)), /went through 2 portcullis\(\) middlewares/)
  t.equal(verifiedBy(req), undefined)
  t.throws(() => verifiedCaller(req, '@x verifiedAuth'), /@x verifiedAuth: no gate verified this request/)

  const auth = { token: 't' } as never
  markVerified(req, a, auth)
  t.equal(verifiedBy(req), a)
  t.equal(verifiedAuthOf(req), auth)
  t.equal(verifiedAuthBy(req, a), auth)
  t.equal(verifiedAuthBy(req, b), undefined, 'another gate verified nothing')
  t.equal(bindingOf(req, '@x', quiet), bindingA, 'the verifying gate decides among several')
  t.equal(state.verifiedBy, a, 'the state a middleware holds sees the verification')
  t.equal(state.auth, auth)
  t.equal(bindingIn(requestStateOf(req), '@x', quiet), bindingA)
  t.same(Object.keys(req), [], 'the state is in a symbol-keyed slot, no name the application sees')

  const unseen = {}
  const report = (_event: RejectionLog) => {}
  markVerified(unseen, b, auth)
  t.same(bindingOf(unseen, '@x', report), { gate: b, onRejection: report }, 'verified by a bound guard only')
})

t.test(
  "request state: kept in the response's locals when there are some (Express), else on the request",
  async (t) => {
    const gate = gateOf()
    const locals = Object.create(null) as object
    const req = { res: { locals } }
    const state = rememberGate(req, { gate, onRejection: quiet })
    t.same(Object.getOwnPropertySymbols(req), [], 'nothing added to the request')
    t.equal(Object.getOwnPropertySymbols(locals).length, 1, 'one slot in res.locals')
    t.same(Object.keys(locals), [], 'no string key')
    t.equal(requestStateOf(req), state)
    markVerified(req, gate, { token: 'secret-token' } as never)
    t.equal(verifiedBy(req), gate)
    // Printed or serialised, the state says whether the request was verified, never by whom.
    for (const shown of [
      inspect(locals, { depth: 5, showHidden: true }),
      inspect({ ...locals }, { depth: 5 }),
      JSON.stringify(state),
    ]) {
      t.notMatch(shown, /secret-token/, 'the token is not shown')
      t.match(shown, /verified"?:\s*true/, 'whether it was verified is')
    }

    req.res.locals = Object.create(null) as object
    t.equal(requestStateOf(req), undefined, 'res.locals replaced: the state is gone (the guards fail closed)')
    t.type(bindingOf(req, '@x', quiet), Error)
    t.match(String(bindingOf(req, '@x', quiet)), /add to res\.locals rather than replace it/)

    for (const res of [undefined, {}, { locals: null }, { locals: 'x' }]) {
      const plain = { res }
      rememberGate(plain, { gate, onRejection: quiet })
      t.equal(
        Object.getOwnPropertySymbols(plain).length,
        1,
        `no usable res.locals (${JSON.stringify(res)}): on the request`,
      )
    }
  },
)

t.test('kept bindings: by middleware or by gate', async (t) => {
  const gate = gateOf()
  const middleware = () => {}
  const binding = { gate, onRejection: quiet }
  t.equal(keepBinding(middleware, binding), binding)
  t.equal(keptBinding(middleware), binding)
  t.equal(keptBinding(gate), undefined)
})

t.test(
  'preflight methods: declared, then OPTIONS, then HEAD for GET; a catch-all gives the fallback',
  async (t) => {
    const methods: string[] = []
    addRouteMethods(methods, ['get'])
    addRouteMethods(methods, ['POST', 'get'])
    t.same(methods, ['GET', 'OPTIONS', 'HEAD', 'POST'])

    const fastifyLike: string[] = []
    addRouteMethods(fastifyLike, ['GET'], false, false)
    t.same(fastifyLike, ['GET', 'OPTIONS'], 'no HEAD implied where the framework reports its own')

    const all: string[] = []
    addRouteMethods(all, ['_all'], true)
    t.same(all, [...FALLBACK_METHODS])
    const many: string[] = []
    addRouteMethods(
      many,
      Array.from({ length: 20 }, (_, i) => `M${i}`),
    )
    t.same(many, [...FALLBACK_METHODS], 'more methods than any route lists by hand: a catch-all')

    const book = new RouteMethodsBook()
    t.same(book.add('/notes', ['GET'], false), ['GET', 'OPTIONS'], 'no OPTIONS route yet: add one')
    t.equal(book.add('/notes', ['OPTIONS'], false), undefined, 'the OPTIONS route just added')
    t.equal(book.add('/notes', ['HEAD'], false), undefined)
    t.same(book.at('/notes'), ['GET', 'OPTIONS', 'HEAD'])
    t.equal(book.add('/own', ['OPTIONS', 'GET'], false), undefined, 'an OPTIONS route of its own')
    t.equal(book.at('/none'), undefined)
  },
)

t.test('CORS beside another layer, through a header accessor', async (t) => {
  const gate = createGate({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier,
    cors: { origin: ['https://a.example'] },
  })
  const headers = new Map<string, string>()
  const access = {
    get: (h: Map<string, string>, name: string) => h.get(name.toLowerCase()),
    set: (h: Map<string, string>, name: string, value: string) => void h.set(name.toLowerCase(), value),
  }
  applyCorsBeside(gate.cors!, 'https://a.example', headers, access)
  t.equal(headers.get('access-control-allow-origin'), 'https://a.example')
  t.match(headers.get('access-control-expose-headers'), /WWW-Authenticate/)

  const refused = new Map([['vary', 'Origin']])
  applyCorsBeside(gate.cors!, 'https://a.example', refused, access)
  t.same([...refused.keys()], ['vary'], "another layer's refusal stands")
})

/** A Node server whose handler is given the request and response. */
async function serve(t: Test, handler: (req: NodeRequest, res: ServerResponse) => void) {
  const server = createServer((req, res) => handler(req as NodeRequest, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('the gate on a Node request and response', async (t) => {
  const gate = createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier, cors: {} })
  const rejections: RejectionLog[] = []
  const binding: GateBinding<IncomingMessage> = { gate, onRejection: (event) => rejections.push(event) }
  const authenticate = (
    b: GateBinding<NodeRequest>,
    req: NodeRequest,
    res: ServerResponse,
    next: (e?: unknown) => void,
  ) =>
    guardNodeRequest(
      b,
      req,
      res,
      gateInput(req, req.method!, req.url!, undefined, undefined),
      undefined,
      next,
    )
  const guardWrite = nodeScopeGuard(binding, ['notes:write'], '@x', quiet, (b, req, res, next, requirement) =>
    guardNodeRequest(
      b,
      req,
      res,
      gateInput(req, req.method!, req.url!, undefined, undefined),
      requirement,
      next,
    ),
  )
  const url = await serve(t, (req, res) => {
    if (answerPreflight(gate, req, res, () => ['GET', 'OPTIONS'])) return
    if (req.url === '/write') {
      return guardWrite(req, res, (error) =>
        sendReply(res, { status: 200, headers: {}, body: { error: String(error) } }),
      )
    }
    authenticate(binding, req, res, () => {
      sendReply(res, {
        status: 200,
        headers: {},
        body: { sub: req.auth?.extra?.sub, same: verifiedAuthOf(req) === req.auth },
      })
    })
  })

  const ok = await fetch(`${url}/notes`, {
    headers: { authorization: 'Bearer good', origin: 'https://app.example' },
  })
  t.equal(ok.status, 200)
  t.same(await ok.json(), { sub: 'alice', same: true }, 'req.auth set, and the request state')
  t.equal(ok.headers.get('access-control-allow-origin'), '*')

  const refused = await fetch(`${url}/notes`, { headers: { authorization: 'Bearer bad' } })
  t.equal(refused.status, 401)
  t.match(refused.headers.get('www-authenticate'), /^Bearer /)
  t.equal(refused.headers.get('content-length'), String(Buffer.byteLength(await refused.text())))
  t.equal(rejections.length, 1, 'reported to the binding')
  t.equal(refused.headers.get('access-control-allow-origin'), null, 'no Origin: not a CORS request')
  t.equal(refused.headers.get('vary'), 'Origin')

  const scoped = await fetch(`${url}/write`, { headers: { authorization: 'Bearer good' } })
  t.equal(scoped.status, 403, 'authenticated by the guard (fail closed), then refused the scope')
  t.match(scoped.headers.get('www-authenticate'), /insufficient_scope/)

  const preflight = await fetch(`${url}/notes`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
  })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers.get('access-control-allow-methods'), 'GET, OPTIONS')

  const head = await fetch(`${url}/notes`, { method: 'HEAD', headers: { authorization: 'Bearer bad' } })
  t.equal(head.status, 401)
  t.equal(await head.text(), '', 'no body on HEAD (RFC 9110 §9.3.2)')
  t.equal(typeof nodeAnswering.setCaller, 'function')
})

t.test('default reporters: a log level or a listener; the console for failures only', async (t) => {
  const lines: unknown[][] = []
  const log = Object.fromEntries(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => [
      level,
      (fields: object, message: string) => lines.push([level, fields, message]),
    ]),
  ) as never
  const request = { log }
  const reporters = levelReporters<typeof request>(
    { onRejection: 'warn', onAudit: 'debug' },
    (r) => r.log,
    'audit!',
  )
  reporters.onRejection({ severity: 'info', fields: { reason: 'x' } } as never, request)
  reporters.onRejection({ severity: 'error', fields: { reason: 'y' } } as never, request)
  reporters.onAudit!({ type: 'allowed' } as never, request)
  t.same(lines, [
    ['warn', { reason: 'x' }, 'request rejected by portcullis'],
    ['error', { reason: 'y' }, 'access token verification failed unexpectedly'],
    ['debug', { audit: { type: 'allowed' } }, 'audit!'],
  ])
  const listener = () => {}
  t.equal(levelReporters({ onRejection: listener }, () => log, 'a').onRejection, listener)

  const printed: unknown[][] = []
  const error = console.error
  console.error = (...args: unknown[]) => void printed.push(args)
  t.teardown(() => {
    console.error = error
  })
  const print = printFailures('@x')
  print({ severity: 'info', fields: { reason: 'x' } } as never)
  print({ severity: 'error', fields: { reason: 'y' } } as never)
  t.same(printed, [['@x: access token verification failed unexpectedly', { reason: 'y' }]])
})
