// Finding 3 of the security review: Express tested `public` against the raw request target, while
// the router ignores the fragment and the absolute form, so `GET /admin#.css` ran the protected
// /admin handler without a token. Whatever decides "public or protected" must see exactly the path
// the router dispatches on. Every path form below, on every routing setting of both adapters:
// without a token, a protected handler (/admin, /reports/:id/download, neither of which any public
// rule can match) never runs; the public handlers still answer their paths.
import { portcullis as expressPortcullis } from '@portcullis/express'
import { portcullis as fastifyPortcullis } from '@portcullis/fastify'
import express from 'express'
import express4 from 'express4'
import Fastify, { type FastifyServerOptions } from 'fastify'
import t, { type Test } from 'tap'
import { rawExchange } from './raw-http.js'
import { listenExpress, listenFastify, mintToken, reviewGateOptions } from './review-apps.js'

/** Request targets as sent on the wire: the family around each protected path. */
const TARGETS = [
  // fragments (never sent by browsers, but Node accepts them and the router drops them)
  '/admin#/health',
  '/admin#.css',
  '/admin#',
  '/admin?#/health',
  '/admin#/../health',
  '/reports/7/download#.css',
  // absolute form (RFC 9112 §3.2.2)
  'http://mcp.review.test/admin#.css',
  'http://mcp.review.test/admin?x=/health',
  'http://mcp.review.test/admin',
  'http://mcp.review.test//admin',
  // query strings that look like public paths
  '/admin?/health',
  '/admin?.css',
  // ; parameters
  '/admin;.css',
  '/admin;/health',
  '/reports/7/download;.css',
  // percent-encoded / and .
  '/admin%2Fhealth',
  '/admin%2F..%2Fhealth',
  '/reports/7/download%2Ecss',
  '/reports/7/x%2F..%2F..%2Fadmin',
  '/%61dmin',
  // double slashes, dot segments
  '//admin',
  '/admin//',
  '/health/../admin',
  '/health/./../admin',
  '/assets/../admin',
  '/assets/%2E%2E/admin',
  // case and trailing slashes
  '/ADMIN',
  '/Admin/',
  '/admin/',
  '/REPORTS/7/download',
  '/reports/7/download/',
  '/reports/7/download.CSS/../x',
]
const PROTECTED = new Set(['admin', 'reports'])

type Start = (t: Test, runs: string[]) => Promise<number>

const expressApp =
  (lib: typeof express, settings: Record<string, boolean>): Start =>
  async (t, runs) => {
    const app = lib()
    for (const [name, value] of Object.entries(settings)) app.set(name, value)
    app.use(
      expressPortcullis({ ...reviewGateOptions(), public: [/\/health$/, /\.(css|js|ico)$/, '/status'] }),
    )
    const handler = (name: string) => (_req: express.Request, res: express.Response) => {
      runs.push(name)
      res.json({ ran: name })
    }
    app.get('/admin', handler('admin'))
    app.get('/reports/:id/download', handler('reports'))
    app.get('/health', handler('health'))
    app.get('/status', handler('status'))
    app.get('/assets/:file', handler('assets'))
    return listenExpress(t, app)
  }

const fastifyApp =
  (routerOptions: FastifyServerOptions['routerOptions']): Start =>
  async (t, runs) => {
    const app = Fastify({ routerOptions })
    await app.register(fastifyPortcullis, reviewGateOptions())
    const handler = (name: string) => async () => {
      runs.push(name)
      return { ran: name }
    }
    app.get('/admin', handler('admin'))
    app.get('/reports/:id/download', handler('reports'))
    app.get('/health', { config: { public: true } }, handler('health'))
    app.get('/status', { config: { public: true } }, handler('status'))
    app.get('/assets/*', { config: { public: true } }, handler('assets'))
    return listenFastify(t, app)
  }

const apps: Record<string, Start> = {
  'express 5, default routing': expressApp(express, {}),
  'express 5, case sensitive routing': expressApp(express, { 'case sensitive routing': true }),
  'express 5, strict routing': expressApp(express, { 'strict routing': true }),
  'express 4, default routing': expressApp(express4 as unknown as typeof express, {}),
  'express 4, case sensitive and strict routing': expressApp(express4 as unknown as typeof express, {
    'case sensitive routing': true,
    'strict routing': true,
  }),
  'fastify, defaults': fastifyApp({}),
  'fastify, ignoreTrailingSlash': fastifyApp({ ignoreTrailingSlash: true }),
  'fastify, ignoreDuplicateSlashes': fastifyApp({ ignoreDuplicateSlashes: true }),
  'fastify, caseSensitive: false': fastifyApp({ caseSensitive: false }),
  'fastify, all three': fastifyApp({
    ignoreTrailingSlash: true,
    ignoreDuplicateSlashes: true,
    caseSensitive: false,
  }),
}

for (const [name, start] of Object.entries(apps)) {
  t.test(name, async (t) => {
    const runs: string[] = []
    const port = await start(t, runs)
    for (const target of TARGETS) {
      const before = runs.length
      const answer = await rawExchange(port, { method: 'GET', path: target, headers: [] })
      const ran = runs.slice(before)
      t.notOk(
        ran.some((handler) => PROTECTED.has(handler)),
        `${target}: no protected handler ran without a token (${answer.status}${ran.length > 0 ? `, ran ${ran}` : ''})`,
      )
      t.ok(answer.status < 500, `${target}: no server error (${answer.status})`)
      if (answer.status === 200) t.ok(ran.length === 1, `${target}: a 200 came from a public handler`)
    }
    // Public paths still answer without a token, and protected ones with one.
    for (const [target, handler] of [
      ['/health', 'health'],
      ['/status', 'status'],
      ['/assets/site.css', 'assets'],
    ] as const) {
      const answer = await rawExchange(port, { method: 'GET', path: target, headers: [] })
      t.equal(answer.status, 200, `${target}: public`)
      t.equal(runs.at(-1), handler)
    }
    const authorized = await rawExchange(port, {
      method: 'GET',
      path: '/admin#.css',
      headers: [['Authorization', `Bearer ${mintToken()}`]],
    })
    t.equal(authorized.status, 200, '/admin#.css with a token: the admin handler, authenticated')
    t.equal(runs.at(-1), 'admin')
  })
}
