// Fails loudly when Fastify moves the private route context src/fastify-compat.ts reads.
import Fastify from 'fastify'
import t from 'tap'
import { routeConfigOf, usesRouteContext } from '../src/fastify-compat.js'

t.test(
  "the route's config is read from Fastify's route context, the same object routeOptions gives",
  async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    const seen: Array<{ same: boolean; url: unknown }> = []
    app.addHook('onRequest', (request, _reply, done) => {
      const config = routeConfigOf(request)
      seen.push({
        same: config === request.routeOptions.config,
        url: (config as { url?: unknown } | undefined)?.url,
      })
      done()
    })
    app.get(
      '/a',
      { config: { marker: 'a' } },
      async (request) => (routeConfigOf(request) as { marker: string }).marker,
    )
    const response = await app.inject({ method: 'GET', url: '/a' })
    t.equal(response.body, 'a')
    t.equal(usesRouteContext(), true, 'the private context was found: no routeOptions copy per request')
    const missing = await app.inject({ method: 'GET', url: '/nowhere' })
    t.equal(missing.statusCode, 404)
    t.same(
      seen,
      [
        { same: true, url: '/a' },
        { same: true, url: undefined },
      ],
      'the not-found route has a config without url, as request.is404 reads it',
    )
  },
)
