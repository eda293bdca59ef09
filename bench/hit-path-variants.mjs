// Where the warm hit path's cost goes, by difference: several Fastify servers in one process, each
// a step more of the auth layer, loaded in alternating batches by an in-process HTTP/1.1 client
// (the client's cost is the same for every variant, so differences are server cost). Reports
// process CPU µs per request, median of batches.
//
//   node bench/hit-path-variants.mjs [--batches 15] [--requests 4000]
//   VARIANTS=express-bare,express-portcullis node bench/hit-path-variants.mjs   (the Express pair only on request)
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { HELLO, ISSUER, keyPair, mintJwts, publicJwk, RESOURCE, SCOPE } from './lib/jwt.mjs'
import { builds } from './lib/load-builds.mjs'
import { alternate, cpuMicros, loadAverage, median, range } from './lib/measure.mjs'
import { bearerRequest, loadPipelined } from './lib/pipeline-client.mjs'
import { fmt1, printTable } from './lib/table.mjs'

const { values: args } = parseArgs({
  options: { batches: { type: 'string', default: '15' }, requests: { type: 'string', default: '4000' } },
})
const { default: Fastify } = await import('fastify')
const { default: express } = await import('express')
const { core, fastify, express: expressBuilds } = await builds('core', 'fastify', 'express')
const { portcullis } = fastify.this
const { jwtVerifier } = core.this
const expressPortcullis = expressBuilds.this

const { privateKey, publicKey } = keyPair('ES256')
const keys = { jwks: { keys: [publicJwk(publicKey, 'ES256')] } }
const [token] = mintJwts({ alg: 'ES256', privateKey, count: 1, from: 1 })

// Reads whose result must not be optimised away.
const sink = { count: 0 }

const variants = {
  bare: async (app) => app.get('/hello', async () => HELLO),
  'three-noop-hooks': async (app) => {
    app.addHook('onRequest', (_req, _reply, done) => done())
    app.addHook('preValidation', (_req, _reply, done) => done())
    app.addHook('onSend', (_req, _reply, payload, done) => done(null, payload))
    app.get('/hello', async () => HELLO)
  },
  'noop-onRequest': async (app) => {
    app.addHook('onRequest', (_req, _reply, done) => done())
    app.get('/hello', async () => HELLO)
  },
  'noop-preValidation': async (app) => {
    app.addHook('preValidation', (_req, _reply, done) => done())
    app.get('/hello', async () => HELLO)
  },
  'noop-onSend': async (app) => {
    app.addHook('onSend', (_req, _reply, payload, done) => done(null, payload))
    app.get('/hello', async () => HELLO)
  },
  'onRequest-reads-ip': async (app) => {
    app.addHook('onRequest', (req, _reply, done) => {
      if (req.ip === 'x') sink.count++
      done()
    })
    app.get('/hello', async () => HELLO)
  },
  'onRequest-reads-routeOptions': async (app) => {
    app.addHook('onRequest', (req, _reply, done) => {
      if (req.routeOptions.config === 'x' || req.is404) sink.count++
      done()
    })
    app.get('/hello', async () => HELLO)
  },
  'two-cors-headers': async (app) => {
    app.addHook('onRequest', (_req, reply, done) => {
      reply.header('access-control-allow-origin', '*')
      reply.header(
        'access-control-expose-headers',
        'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After',
      )
      done()
    })
    app.get('/hello', async () => HELLO)
  },
  'vary-origin': async (app) => {
    app.addHook('onRequest', (_req, reply, done) => {
      reply.header('vary', 'Origin')
      done()
    })
    app.get('/hello', async () => HELLO)
  },
  portcullis: async (app) => {
    await app.register(portcullis, {
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: keys.jwks.keys }),
      scopes: { implies: { 'bench:admin': [SCOPE] } },
    })
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
  },
  'portcullis-no-cors': async (app) => {
    await app.register(portcullis, {
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: keys.jwks.keys }),
      scopes: { implies: { 'bench:admin': [SCOPE] } },
      cors: false,
    })
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
  },
}

const expressVariants = {
  'express-bare': (app) => app.get('/hello', (_req, res) => res.json(HELLO)),
  // What any middleware pair costs Express: an app.use() layer and a guard on the route, doing nothing.
  'express-two-noop-layers': (app) => {
    app.use((_req, _res, next) => next())
    app.get(
      '/hello',
      (_req, _res, next) => next(),
      (_req, res) => res.json(HELLO),
    )
  },
  'express-portcullis': (app) => {
    app.use(
      expressPortcullis.portcullis({
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: keys.jwks.keys }),
        scopes: { implies: { 'bench:admin': [SCOPE] } },
      }),
    )
    app.get('/hello', expressPortcullis.requireScopes(SCOPE), (_req, res) => res.json(HELLO))
  },
}

// PORTCULLIS_BASELINE=<a checkout with built packages>: the same Portcullis servers built from it,
// loaded in the same batches, for a before/after measured in one run.
if (core.baseline !== undefined) {
  const [baseCore, baseFastify, baseExpress] = [core.baseline, fastify.baseline, expressBuilds.baseline]
  const options = (cors) => ({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: baseCore.jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: keys.jwks.keys }),
    scopes: { implies: { 'bench:admin': [SCOPE] } },
    ...(cors ? {} : { cors: false }),
  })
  variants['portcullis@baseline'] = async (app) => {
    await app.register(baseFastify.portcullis, options(true))
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
  }
  expressVariants['express-portcullis@baseline'] = (app) => {
    app.use(baseExpress.portcullis(options(true)))
    app.get('/hello', baseExpress.requireScopes(SCOPE), (_req, res) => res.json(HELLO))
  }
}

const servers = []
const onlyVariants = process.env.VARIANTS?.split(',')
for (const [name, setup] of Object.entries(expressVariants)) {
  if (!onlyVariants?.includes(name)) continue
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  setup(app)
  const server = createServer(app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push({
    name,
    app: { close: () => new Promise((r) => server.close(r)) },
    port: server.address().port,
    samples: [],
  })
}
for (const [name, setup] of Object.entries(variants)) {
  if (onlyVariants && !onlyVariants.includes(name)) continue
  const app = Fastify()
  await setup(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  servers.push({ name, app, port: app.server.address().port, samples: [] })
}

const wire = bearerRequest(token)
const batch = (port, count) => loadPipelined(port, { count, wire: () => wire })
const n = Number(args.requests)
console.log(`load average ${loadAverage().join(' ')}`)
for (const s of servers) await batch(s.port, 2000) // warm up the JIT and the cache
await alternate(servers, Number(args.batches), async (s) => (await cpuMicros(() => batch(s.port, n))) / n)
const base = median(servers[0].samples)
printTable(
  ['variant', 'CPU µs/req (server + a light client)>', 'range>', 'above the first>'],
  servers.map((s) => {
    const m = median(s.samples)
    return [s.name, fmt1(m), range(s.samples).map(fmt1).join('–'), fmt1(m - base)]
  }),
)
console.log(`load average ${loadAverage().join(' ')}`)
for (const s of servers) await s.app.close()
