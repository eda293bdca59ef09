// Finding 2 of the security review: an OPTIONS request with Access-Control-Request-Method and no
// token reached handlers that match OPTIONS whenever Portcullis did not answer the preflight
// itself. Now a preflight is either answered and ended by a CORS layer (ours or the app's) with no
// handler run, or gated like any other request. Every CORS arrangement of both adapters, against
// handlers that match OPTIONS: Express app.all, app.use(path), router.use; Fastify all, an
// explicit OPTIONS route, a route listing OPTIONS among its methods.
import fastifyCors from '@fastify/cors'
import { portcullis as expressPortcullis } from '@portcullis/express'
import { portcullis as fastifyPortcullis } from '@portcullis/fastify'
import cors from 'cors'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { rawExchange } from './raw-http.js'
import { listenExpress, listenFastify, mintToken, reviewGateOptions } from './review-apps.js'

const ORIGIN = 'https://inspector.example'
const PREFLIGHT: Array<[string, string]> = [
  ['Origin', ORIGIN],
  ['Access-Control-Request-Method', 'POST'],
  ['Access-Control-Request-Headers', 'authorization, content-type'],
]

/** What an arrangement must do with a tokenless preflight: a CORS layer ends it (204), or the gate refuses it (401). */
type Outcome = 'answered' | 'gated'

interface Arrangement {
  name: string
  outcome: Outcome
  start(t: Test, runs: string[]): Promise<{ port: number; paths: string[] }>
}

const secret = (runs: string[], name: string) => {
  runs.push(name)
  return { secret: 'the handler ran', name }
}

function expressArrangement(
  name: string,
  outcome: Outcome,
  options: { ours?: boolean; before?: express.RequestHandler; after?: express.RequestHandler },
): Arrangement {
  return {
    name: `express: ${name}`,
    outcome,
    async start(t, runs) {
      const app = express()
      if (options.before !== undefined) app.use(options.before)
      app.use(expressPortcullis(reviewGateOptions(options.ours === false ? { cors: false } : {})))
      if (options.after !== undefined) app.use(options.after)
      app.all('/admin/users', (_req, res) => void res.json(secret(runs, 'app.all')))
      app.use('/admin/tools', (_req, res) => void res.json(secret(runs, 'app.use(path)')))
      const router = express.Router()
      router.use((_req, res) => void res.json(secret(runs, 'router.use')))
      app.use('/admin/router', router)
      app.options('/admin/options', (_req, res) => void res.json(secret(runs, 'app.options')))
      return {
        port: await listenExpress(t, app),
        paths: ['/admin/users', '/admin/tools', '/admin/router/x', '/admin/options'],
      }
    },
  }
}

function fastifyArrangement(
  name: string,
  outcome: Outcome,
  options: { ours?: boolean; fastifyCors?: Record<string, unknown>; corsAfter?: boolean },
): Arrangement {
  return {
    name: `fastify: ${name}`,
    outcome,
    async start(t, runs) {
      const app = Fastify()
      if (options.fastifyCors !== undefined && options.corsAfter !== true)
        await app.register(fastifyCors, options.fastifyCors)
      await app.register(fastifyPortcullis, reviewGateOptions(options.ours === false ? { cors: false } : {}))
      if (options.fastifyCors !== undefined && options.corsAfter === true)
        await app.register(fastifyCors, options.fastifyCors)
      app.all('/admin/users', async () => secret(runs, 'all'))
      app.route({
        method: ['GET', 'OPTIONS'],
        url: '/admin/tools',
        handler: async () => secret(runs, 'GET+OPTIONS'),
      })
      app.options('/admin/options', async () => secret(runs, 'options'))
      return { port: await listenFastify(t, app), paths: ['/admin/users', '/admin/tools', '/admin/options'] }
    },
  }
}

const setOrigin: express.RequestHandler = (_req, res, next) => {
  res.setHeader('Access-Control-Allow-Origin', '*')
  next()
}

const arrangements: Arrangement[] = [
  expressArrangement('our CORS', 'answered', {}),
  expressArrangement('cors: false, no CORS layer', 'gated', { ours: false }),
  expressArrangement('cors before us (it answers preflights)', 'answered', { before: cors() }),
  expressArrangement('cors before us with preflightContinue', 'gated', {
    before: cors({ preflightContinue: true }),
  }),
  expressArrangement('cors before us with preflightContinue, ours off', 'gated', {
    ours: false,
    before: cors({ preflightContinue: true }),
  }),
  expressArrangement('cors after us (ours answers first)', 'answered', { after: cors() }),
  expressArrangement('cors after us with preflightContinue', 'answered', {
    after: cors({ preflightContinue: true }),
  }),
  expressArrangement('cors after us, ours off', 'gated', { ours: false, after: cors() }),
  expressArrangement('an earlier middleware sets Access-Control-Allow-Origin', 'gated', {
    before: setOrigin,
  }),
  fastifyArrangement('our CORS', 'answered', {}),
  fastifyArrangement('cors: false, no CORS layer', 'gated', { ours: false }),
  fastifyArrangement('@fastify/cors before us (it answers preflights)', 'answered', {
    ours: false,
    fastifyCors: {},
  }),
  fastifyArrangement('@fastify/cors before us with preflightContinue', 'gated', {
    ours: false,
    fastifyCors: { preflightContinue: true },
  }),
  fastifyArrangement('@fastify/cors before us with preflightContinue, ours on', 'gated', {
    fastifyCors: { preflightContinue: true },
  }),
  fastifyArrangement('@fastify/cors before us refusing every origin (origin: false)', 'gated', {
    fastifyCors: { origin: false },
  }),
  fastifyArrangement('@fastify/cors after us, ours off', 'gated', {
    ours: false,
    fastifyCors: {},
    corsAfter: true,
  }),
]

for (const arrangement of arrangements) {
  t.test(arrangement.name, async (t) => {
    const runs: string[] = []
    const { port, paths } = await arrangement.start(t, runs)
    for (const path of paths) {
      const tokenless = await rawExchange(port, { method: 'OPTIONS', path, headers: PREFLIGHT })
      if (arrangement.outcome === 'answered') {
        t.equal(tokenless.status, 204, `${path}: a tokenless preflight is answered by a CORS layer`)
        t.ok(tokenless.headers.get('access-control-allow-origin'), `${path}: with a CORS grant`)
      } else {
        t.equal(tokenless.status, 401, `${path}: a tokenless preflight is gated`)
        t.match(tokenless.headers.get('www-authenticate')?.[0], /^Bearer /, `${path}: with a challenge`)
      }
      t.notMatch(tokenless.body.toString(), /the handler ran/, `${path}: no secret in the answer`)
      t.same(runs, [], `${path}: no handler ran without a token`)
      // The same request with a junk token never reaches a handler either.
      const junk = await rawExchange(port, {
        method: 'OPTIONS',
        path,
        headers: [...PREFLIGHT, ['Authorization', 'Bearer not-a-token']],
      })
      t.ok(
        junk.status === 204 || junk.status === 401,
        `${path}: a junk token is answered or refused (${junk.status})`,
      )
      t.same(runs, [], `${path}: no handler ran with a junk token`)
    }
    if (arrangement.outcome === 'gated') {
      // Gated, not blocked: with a valid token it goes on as any authenticated request, to the
      // handler (200) or to a CORS layer mounted after the gate that answers it (204).
      const withToken = await rawExchange(port, {
        method: 'OPTIONS',
        path: paths[0]!,
        headers: [...PREFLIGHT, ['Authorization', `Bearer ${mintToken()}`]],
      })
      t.ok([200, 204].includes(withToken.status), `an authenticated preflight goes on (${withToken.status})`)
      t.equal(runs.length, withToken.status === 200 ? 1 : 0, 'the handler ran exactly when it answered')
    }
  })
}

t.test('fastify: @fastify/cors registered after us with our CORS on refuses to start', async (t) => {
  const app = Fastify()
  await app.register(fastifyPortcullis, reviewGateOptions())
  await app.register(fastifyCors, {})
  await t.rejects(async () => app.ready(), /register it first/)
  await app.close()
})
