import type { GateOptions } from '@portcullis/core'
import { portcullis, requireScopes } from '@portcullis/express'
import type express from 'express'
import { protectedBody, publicBody, ROUTES } from './app-spec.js'
import { listen, send } from './http-client.js'
import type { MatrixAdapter } from './run-matrix.js'

/** The matrix app on an Express module (5, or 4 under the `express4` alias), on a real socket. */
export function expressAdapter(createApp: typeof express): MatrixAdapter {
  return async (options: GateOptions) => {
    const app = createApp()
    // Framework headers that have nothing to do with the gate (Fastify sends neither).
    app.disable('x-powered-by')
    app.set('etag', false)
    app.use(createApp.json(), createApp.urlencoded({ extended: false }))
    app.use(
      portcullis({
        ...options,
        public: ROUTES.filter((route) => route.public === true).map((route) => route.path),
        // Reported, not printed: the default reporter writes unexpected failures to stderr.
        onRejection: () => {},
      }),
    )
    for (const route of ROUTES) {
      const method = route.method.toLowerCase() as 'get' | 'post' | 'delete'
      const guards = route.scopes === undefined ? [] : [requireScopes(route.scopes)]
      app[method](route.path, ...guards, (req, res) => {
        res.json(route.public === true ? publicBody(req.auth) : protectedBody(route, req.auth as never))
      })
    }
    const server = await listen(app)
    return {
      send: (request) => send(server, request),
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    }
  }
}
