import { inspect } from 'node:util'
import { portcullis, requireScopes, verifiedAuth } from '@portcullis/express'
import { tokenKit } from '@portcullis/test-kit'
import express, { type ErrorRequestHandler, type Request, type Response } from 'express'
import t from 'tap'
import { listen, notesOptions } from './fixtures/app.js'

// Where the middleware keeps what it knows of a request for the route's guards: in res.locals,
// under a symbol (never printed with the caller's token), not on Express's request (each property added to it copies the
// request's hidden class; `req.auth` is an accessor reading the state, request-auth.test.ts); and
// what happens when an application replaces res.locals.

const kit = await tokenKit()
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

const errorMessage: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).json({ message: (error as Error).message })
}

/** The symbol-keyed own properties of an object, by description. */
const symbolsOf = (value: object) => Object.getOwnPropertySymbols(value).map((symbol) => symbol.description)

t.test('the state is kept in res.locals, hidden; the request gains no property', async (t) => {
  const app = express()
  let before: { req: (string | undefined)[]; keys: string[] } | undefined
  app.use((req, _res, next) => {
    before = { req: symbolsOf(req), keys: Object.keys(req) }
    next()
  })
  app.use(portcullis(notesOptions(kit)))
  app.get('/notes', requireScopes('notes:read'), (req: Request, res: Response) => {
    const token = verifiedAuth(req).token
    res.json({
      readsCaller: req.auth === verifiedAuth(req),
      reqSymbols: symbolsOf(req),
      // Express's router sets req.route on the way to the route.
      newKeys: Object.keys(req).filter((key) => !before!.keys.includes(key) && key !== 'route'),
      localsSymbols: symbolsOf(res.locals),
      localsKeys: Object.keys(res.locals),
      // What copies the slot (Object.assign, a spread, res.render's options) and prints the copy.
      copiedHasToken: [Object.assign({}, res.locals), { ...res.locals }].map(
        (copy) =>
          inspect(copy, { depth: 5, showHidden: true }).includes(token) ||
          JSON.stringify(copy).includes(token),
      ),
      inspectedHasToken: inspect(res.locals, { depth: 5 }).includes(token),
      hiddenHasToken: inspect(res.locals, { depth: 5, showHidden: true }).includes(token),
      json: JSON.stringify(res.locals),
    })
  })
  const server = await listen(app)
  t.teardown(server.close)

  const answer = await server.request('GET', '/notes', bearer(await kit.mint()))
  t.equal(answer.status, 200)
  const seen = answer.json()
  t.same(seen.reqSymbols, before!.req, 'no symbol added to the request')
  t.same(seen.newKeys, [], 'the request gains no key: not even req.auth')
  t.equal(seen.readsCaller, true, 'req.auth reads the caller the gate verified')
  t.same(seen.localsSymbols, ['portcullis request state'], 'kept in res.locals')
  t.same(seen.localsKeys, [], 'no string key: Object.keys and for...in do not see it')
  t.same(seen.copiedHasToken, [false, false], 'a copy of res.locals (res.render) does not show the token')
  t.equal(seen.inspectedHasToken, false, 'console.log(res.locals) does not show the token')
  t.equal(seen.hiddenHasToken, false, 'nor util.inspect with showHidden')
  t.equal(seen.json, '{}')
})

t.test('res.locals replaced after the middleware: the guard fails closed and says why', async (t) => {
  const app = express()
  const auth = portcullis(notesOptions(kit))
  app.use(auth)
  app.use((_req, res, next) => {
    res.locals = { replaced: true }
    next()
  })
  let reached = 0
  const handler = (req: Request, res: Response) => {
    reached++
    res.json({ sub: verifiedAuth(req).extra.sub })
  }
  app.get('/unbound', requireScopes('notes:read'), handler)
  app.get('/bound', auth.requireScopes('notes:read'), handler)
  app.get('/open', (req, res) =>
    res.json({ auth: req.auth?.clientId ?? null, sub: verifiedAuth(req).extra.sub }),
  )
  app.get('/reads', (req, res) => res.json({ auth: req.auth ?? null }))
  app.use(errorMessage)
  const server = await listen(app)
  t.teardown(server.close)
  const token = await kit.mint()

  const unbound = await server.request('GET', '/unbound', bearer(token))
  t.equal(unbound.status, 500, 'not served: the guard cannot tell which gate covers the route')
  t.match(
    unbound.json().message,
    /no portcullis\(\) middleware covers.*add to res\.locals rather than replace it/,
  )
  t.notMatch(unbound.body, token)

  const open = await server.request('GET', '/open', bearer(token))
  t.equal(open.status, 500, 'verifiedAuth throws rather than answer without the gate')
  t.match(open.json().message, /no gate verified this request.*res\.locals/)
  t.equal(reached, 0, 'no handler reached without its guard passing')
  const reads = await server.request('GET', '/reads', bearer(token))
  t.same(reads.json(), { auth: null }, 'req.auth reads the lost state: no caller, as verifiedAuth says')

  const bound = await server.request('GET', '/bound', bearer(token))
  t.equal(bound.status, 200, 'a bound guard knows its gate: it verifies the request again')
  t.same(bound.json(), { sub: 'alice' })
  t.equal((await server.request('GET', '/bound')).status, 401, 'and refuses a request without a token')
})
