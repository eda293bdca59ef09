// `req.auth` on Express: an accessor on the Express copy's request prototype (`express.request`)
// that reads the caller the gate verified, so that no property is added to each request; what a
// handler writes there is still the request's own. Against Express 4 and 5.
import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { portcullis, requireScopes, verifiedAuth } from '@portcullis/express'
import { tokenKit } from '@portcullis/test-kit'
import express5, { type Request, type Response } from 'express'
import express4 from 'express4'
import t, { type Test } from 'tap'
import { exposeCaller } from '../src/express-compat.js'
import { listen, notesOptions } from './fixtures/app.js'

const kit = await tokenKit()
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

const LINES = [
  { name: 'express 4', make: express4 as unknown as typeof express5 },
  { name: 'express 5', make: express5 },
]

for (const line of LINES) {
  t.test(`${line.name}: req.auth reads the verified caller, and a write is the request's own`, async (t) => {
    const { make } = line
    const app = make()
    app.use(portcullis(notesOptions(kit, { public: ['/health'] })))
    app.get('/notes', requireScopes('notes:read'), (req: Request, res: Response) => {
      const read = { own: Object.hasOwn(req, 'auth'), same: req.auth === verifiedAuth(req) }
      req.auth = { token: 'written', clientId: 'another layer', scopes: [] }
      res.json({
        ...read,
        written: req.auth.clientId,
        ownAfter: Object.hasOwn(req, 'auth'),
        verifiedSub: verifiedAuth(req).extra.sub,
      })
    })
    app.get('/health', (req, res) => res.json({ auth: req.auth ?? null }))
    const sub = make()
    sub.get('/who', requireScopes('notes:read'), (req, res) => res.json({ sub: req.auth?.extra?.sub }))
    app.use('/sub', sub)
    const router = make.Router()
    router.get('/who', (req, res) => res.json({ sub: req.auth?.extra?.sub }))
    app.use('/router', router)

    // Another app of the same Express copy, without Portcullis: nothing to read, writes its own.
    const other = make()
    other.get('/plain', (req, res) => res.json({ auth: req.auth ?? null }))
    other.get('/set', (req, _res, next) => {
      req.auth = { token: 'x', clientId: 'theirs', scopes: [] }
      next()
    })
    other.get('/set', (req, res) => res.json({ clientId: req.auth?.clientId }))

    const server = await listen(app)
    const otherServer = await listen(other)
    t.teardown(server.close)
    t.teardown(otherServer.close)

    const first = await server.request('GET', '/notes', bearer(await kit.mint({ sub: 'alice' })))
    t.equal(first.status, 200)
    t.same(
      first.json(),
      { own: false, same: true, written: 'another layer', ownAfter: true, verifiedSub: 'alice' },
      'read from the state, not an own property; a handler that writes it gets its own',
    )
    const second = await server.request('GET', '/notes', bearer(await kit.mint({ sub: 'bob' })))
    t.equal(second.json().verifiedSub, 'bob', 'the next request reads its own caller')
    t.equal(second.json().same, true, 'not what the last request wrote')

    const accessor = Object.getOwnPropertyDescriptor(make.request, 'auth')
    t.equal(typeof accessor?.get, 'function', `${line.name}: express.request has the accessor`)
    t.equal(accessor?.enumerable, false, 'not enumerable: a dump of the request does not show it')
    t.notOk(Object.hasOwn(IncomingMessage.prototype, 'auth'), "Node's own request prototype untouched")

    t.same((await server.request('GET', '/health')).json(), { auth: null }, 'a public route: no caller')
    const token = await kit.mint({ sub: 'carol' })
    t.same((await server.request('GET', '/sub/who', bearer(token))).json(), { sub: 'carol' }, 'a mounted app')
    t.same((await server.request('GET', '/router/who', bearer(token))).json(), { sub: 'carol' }, 'a router')
    t.same((await otherServer.request('GET', '/plain')).json(), { auth: null }, 'an app without the gate')
    t.same((await otherServer.request('GET', '/set')).json(), { clientId: 'theirs' }, 'its own writes kept')
  })
}

for (const line of LINES) {
  t.test(
    `${line.name}: a req.auth another layer wrote before the gate is replaced by the gate's caller`,
    async (t) => {
      const app = line.make()
      app.use((req, _res, next) => {
        req.auth = { token: 'earlier', clientId: 'earlier layer', scopes: ['notes:read', 'notes:write'] }
        next()
      })
      app.use(portcullis(notesOptions(kit)))
      app.get('/notes', requireScopes('notes:read'), (req, res) =>
        res.json({ sub: req.auth?.extra?.sub ?? null, same: req.auth === verifiedAuth(req) }),
      )
      const server = await listen(app)
      t.teardown(server.close)
      const answer = await server.request('GET', '/notes', bearer(await kit.mint({ sub: 'dave' })))
      t.same(answer.json(), { sub: 'dave', same: true })
      t.equal(
        (await server.request('GET', '/notes')).status,
        401,
        'and no caller of its own lets a request in',
      )
    },
  )
}

t.test('exposeCaller touches only the prototype of a request Express dispatched', async (t) => {
  const plain = new IncomingMessage(new Socket())
  t.equal(exposeCaller(plain), false, 'not exposed: the gate writes req.auth')
  t.notOk(Object.hasOwn(IncomingMessage.prototype, 'auth'), 'a plain Node request: nothing defined')

  const expressLike = Object.create(IncomingMessage.prototype)
  const theirs = { value: 'theirs', writable: true, configurable: true, enumerable: false }
  Object.defineProperty(expressLike, 'auth', theirs)
  t.equal(exposeCaller(Object.create(Object.create(expressLike))), false, 'not ours: not exposed')
  t.same(
    Object.getOwnPropertyDescriptor(expressLike, 'auth'),
    theirs,
    'an auth defined there already is kept',
  )
})

/** A verified request to `app` (with the gate mounted here) has `req.auth` as its own property, the gate's caller. */
async function gateWritesReqAuth(t: Test, app: ReturnType<typeof express5>): Promise<void> {
  app.use(portcullis(notesOptions(kit)))
  app.get('/notes', (req, res) =>
    res.json({ own: Object.hasOwn(req, 'auth'), same: req.auth === verifiedAuth(req) }),
  )
  const server = await listen(app)
  t.teardown(server.close)
  const answer = await server.request('GET', '/notes', bearer(await kit.mint()))
  t.same(answer.json(), { own: true, same: true })
}

t.test('where express.request defines auth already, the gate writes req.auth as before', async (t) => {
  const before = Object.getOwnPropertyDescriptor(express4.request, 'auth')
  Object.defineProperty(express4.request, 'auth', { value: undefined, writable: true, configurable: true })
  t.teardown(() => {
    delete (express4.request as { auth?: unknown }).auth
    if (before !== undefined) Object.defineProperty(express4.request, 'auth', before)
  })
  await gateWritesReqAuth(t, (express4 as unknown as typeof express5)())
})

t.test("where an app's own request prototype shadows it, the gate writes req.auth as before", async (t) => {
  const app = express5()
  Object.defineProperty(app.request, 'auth', { value: undefined, writable: true, configurable: true })
  await gateWritesReqAuth(t, app)
})
