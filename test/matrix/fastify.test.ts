import type { GateOptions } from '@portcullis/core'
import portcullis from '@portcullis/fastify'
import Fastify from 'fastify'
import t from 'tap'
import { protectedBody, publicBody, ROUTES } from './app-spec.js'
import { type MatrixAdapter, runMatrix } from './run-matrix.js'

// The matrix against @portcullis/fastify, through fastify.inject().

const fastifyAdapter: MatrixAdapter = async (options: GateOptions) => {
  const app = Fastify()
  // Form bodies, so a body access_token can be seen (Fastify parses none by default).
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))))
    },
  )
  await app.register(portcullis, options)
  for (const route of ROUTES) {
    app.route({
      method: route.method,
      url: route.path,
      config:
        route.public === true ? { public: true } : route.scopes === undefined ? {} : { scopes: route.scopes },
      handler: async (request) =>
        route.public === true ? publicBody(request.auth) : protectedBody(route, request.auth as never),
    })
  }
  await app.ready()
  return {
    async send(request) {
      const response = await app.inject({
        method: request.method as 'GET',
        url: request.path,
        headers: request.headers,
        ...(request.body === undefined ? {} : { payload: request.body }),
      })
      return { status: response.statusCode, headers: response.headers, body: response.body }
    },
    close: () => app.close(),
  }
}

await runMatrix(t, fastifyAdapter)
