// Pins the Express internals `src/express-compat.ts` reads, against Express 4 and 5: when a
// release moves them, these fail naming the field and the version.
import { readFileSync } from 'node:fs'
import { IncomingMessage } from 'node:http'
import express5 from 'express'
import express4 from 'express4'
import t from 'tap'
import { forEachRouteAt, rootRouterStack } from '../src/express-compat.js'

const versionOf = (name: string): string =>
  JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version

const LINES = [
  {
    name: `express ${versionOf('express4')}`,
    make: express4 as unknown as typeof express5,
    root: 'app._router',
  },
  { name: `express ${versionOf('express')}`, make: express5, root: 'app.router' },
]

for (const line of LINES) {
  t.test(`${line.name}: the router stack is where express-compat.ts reads it`, async (t) => {
    const app = line.make()
    const nested = line.make.Router()
    nested.put('/items/:id', (_req, res) => res.end())
    app.get('/notes', (_req, res) => res.end())
    app.post('/notes', (_req, res) => res.end())
    app.all('/any', (_req, res) => res.end())
    app.use('/api', nested)
    t.ok(Array.isArray(rootRouterStack(app)), `${line.name}: ${line.root}.stack is no longer an array`)
    const at = (path: string) => {
      const seen: string[][] = []
      t.ok(
        forEachRouteAt(app, path, (methods) => seen.push(Object.keys(methods).filter((m) => methods[m]))),
        `${line.name}: ${line.root} not found`,
      )
      return seen
    }
    t.same(at('/notes'), [['get'], ['post']], `${line.name}: layer.match / layer.route.methods changed`)
    t.same(
      at('/api/items/7'),
      [['put']],
      `${line.name}: a mounted router (layer.handle.stack, layer.path) changed`,
    )
    const all = at('/any')
    t.equal(all.length, 1)
    t.ok(all[0]!.includes('_all') || all[0]!.length > 16, `${line.name}: app.all() no longer readable`)
    t.same(at('/nothing'), [], 'no route at the path')
  })
}

for (const line of LINES) {
  t.test(
    `${line.name}: a request's prototypes are where exposeCaller looks for express.request`,
    async (t) => {
      const app = line.make()
      let seen: object | null = null
      app.get('/', (req, res) => {
        seen = Object.getPrototypeOf(req)
        res.end()
      })
      const request = Object.create(IncomingMessage.prototype)
      // app.handle with a response double: only what the route above needs.
      const response = Object.assign(Object.create(null), { setHeader() {}, end() {} })
      Object.assign(request, { url: '/', method: 'GET', headers: {} })
      const handle = (app as unknown as { handle: (req: unknown, res: unknown, done: () => void) => void })
        .handle
      handle.call(app, request, response, () => t.fail('the route answers'))
      t.equal(seen, app.request, `${line.name}: a request no longer takes app.request as its prototype`)
      t.equal(
        Object.getPrototypeOf(app.request),
        line.make.request,
        `${line.name}: app.request no longer extends express.request`,
      )
      t.equal(
        Object.getPrototypeOf(line.make.request),
        IncomingMessage.prototype,
        `${line.name}: express.request no longer extends IncomingMessage.prototype`,
      )
    },
  )
}

t.test('anything that is not an Express app has no router stack', async (t) => {
  t.equal(rootRouterStack(undefined), undefined)
  t.equal(rootRouterStack({}), undefined)
  t.equal(rootRouterStack({ router: { stack: 'no' } }), undefined)
  t.equal(
    forEachRouteAt({}, '/x', () => t.fail('no route')),
    false,
  )
})
