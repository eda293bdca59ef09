// Where the warm hit path's cost goes, by difference: several Fastify servers in one process, each
// a step more of the auth layer, loaded in alternating batches by an in-process HTTP/1.1 client
// (the client's cost is the same for every variant, so differences are server cost). Reports
// process CPU µs per request, median of batches.
//
//   node bench/hit-path-variants.mjs [--batches 15] [--requests 4000]
//   VARIANTS=express-bare,express-portcullis node bench/hit-path-variants.mjs   (the Express pair only on request)
//   VARIANTS=bare,floor,portcullis node bench/hit-path-variants.mjs --instructions [--requests 1000]
//     instructions per request of each variant instead (cachegrind, see lib/instructions.mjs):
//     deterministic where CPU time on a shared machine is not, blind to the memory system
//   VARIANTS=express-bare,express-floor-guarded,express-portcullis node --expose-gc \
//     --max-semi-space-size=256 bench/hit-path-variants.mjs --heap [--requests 4000]
//     heap bytes allocated per request instead (server + the light client; no scavenge in a batch)
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { leastLayer } from './lib/floor-layers.mjs'
import { instructionsPerRequest } from './lib/instructions.mjs'
import { HELLO, ISSUER, keyPair, mintJwts, publicJwk, RESOURCE, SCOPE } from './lib/jwt.mjs'
import { baselineExpress, builds } from './lib/load-builds.mjs'
import { alternate, cpuMicros, heapAfterGc, loadAverage, median, range, requireGc } from './lib/measure.mjs'
import { bearerRequest, loadPipelined } from './lib/pipeline-client.mjs'
import { fmt1, printTable } from './lib/table.mjs'

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '15' },
    requests: { type: 'string', default: '4000' },
    instructions: { type: 'boolean', default: false },
    heap: { type: 'boolean', default: false },
    // Internal (the --instructions runs): the one variant in VARIANTS, `count` requests, no report.
    count: { type: 'string' },
    only: { type: 'string' },
  },
})
if (args.instructions) {
  const names = process.env.VARIANTS?.split(',') ?? ['bare', 'floor', 'portcullis']
  const low = Number(args.requests === '4000' ? 1000 : args.requests)
  const script = fileURLToPath(import.meta.url)
  // One variant per run (`--only`), the same warm-up in each.
  const perRequest = await instructionsPerRequest(script, names, low, (name, count) => [
    '--count',
    String(count),
    '--only',
    name,
  ])
  const base = perRequest[names[0]]
  console.log(`instructions per request, (${3 * low} requests − ${low}) / ${2 * low}, cachegrind`)
  printTable(
    ['variant', 'instructions per request>', `above ${names[0]}>`, `${names[0]} / variant>`],
    names.map((name) => [
      name,
      Math.round(perRequest[name]).toLocaleString('en'),
      Math.round(perRequest[name] - base).toLocaleString('en'),
      `${(base / perRequest[name]).toFixed(3)}x`,
    ]),
  )
  process.exit(0)
}
if (args.heap) requireGc('node --expose-gc --max-semi-space-size=256 bench/hit-path-variants.mjs --heap')
const { default: Fastify } = await import('fastify')
const { default: express } = await import('express')
const { core, fastify, express: expressBuilds } = await builds('core', 'fastify', 'express')
const { portcullis } = fastify.this
const expressPortcullis = expressBuilds.this

const { privateKey, publicKey } = keyPair('ES256')
const keys = { jwks: { keys: [publicJwk(publicKey, 'ES256')] } }
const [token] = mintJwts({ alg: 'ES256', privateKey, count: 1, from: 1 })

/** The gate's options every Portcullis variant shares, with `build`'s jwtVerifier (this build or the baseline's). */
const gateOptions = (build, cors = true) => ({
  resource: RESOURCE,
  authorizationServers: [ISSUER],
  verifier: build.jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: keys.jwks.keys }),
  scopes: { implies: { 'bench:admin': [SCOPE] } },
  ...(cors ? {} : { cors: false }),
})

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
  // The least any remembering auth layer does: the token found in a Map, the scope checked, the
  // caller set, `Vary: Origin` (as http-servers.mjs fastify-floor, warm).
  floor: async (app) => {
    const known = new Map([[`Bearer ${token}`, { token, scopes: [SCOPE] }]])
    app.decorateRequest('auth', undefined)
    app.addHook('onRequest', (req, reply, done) => {
      const auth = known.get(req.headers.authorization)
      if (auth === undefined) return void reply.code(401).header('WWW-Authenticate', 'Bearer').send()
      if (!auth.scopes.includes(SCOPE)) return void reply.code(403).send()
      req.auth = auth
      reply.header('vary', 'Origin')
      done()
    })
    app.get('/hello', async () => HELLO)
  },
  portcullis: async (app) => {
    await app.register(portcullis, gateOptions(core.this))
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
  },
  'portcullis-no-cors': async (app) => {
    await app.register(portcullis, gateOptions(core.this, false))
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
  },
}

const expressGate = () => expressPortcullis.portcullis(gateOptions(core.this))

/**
 * The floor on Express (as http-servers.mjs express-floor, warm): a middleware that finds the token
 * in a Map, sets the caller and `Vary: Origin`; the scope checked in it, or (`guarded`) by a second
 * middleware on the route, the shape of portcullis() with requireScopes().
 */
const expressFloor = (guarded) => (app) => {
  const known = new Map([[`Bearer ${token}`, { token, scopes: [SCOPE] }]])
  app.use((req, res, next) => {
    const auth = known.get(req.headers.authorization)
    if (auth === undefined) return void res.status(401).set('WWW-Authenticate', 'Bearer').end()
    if (!guarded && !auth.scopes.includes(SCOPE)) return void res.status(403).end()
    req.auth = auth
    res.setHeader('Vary', 'Origin')
    next()
  })
  const guard = (req, res, next) => (req.auth.scopes.includes(SCOPE) ? next() : void res.status(403).end())
  app.get('/hello', ...(guarded ? [guard] : []), (_req, res) => res.json(HELLO))
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
  'express-floor': expressFloor(false),
  'express-floor-guarded': expressFloor(true),
  // The least layer that keeps Portcullis's rules on a remembered token (lib/floor-layers.mjs).
  'express-least': (app) => {
    const payload = { sub: 'bench', client_id: 'bench', exp: Math.floor(Date.now() / 1000) + 3600 }
    const verify = async (header) =>
      header === `Bearer ${token}` ? { token, scopes: [SCOPE], payload } : undefined
    const least = leastLayer({ verify, resource: RESOURCE, issuer: ISSUER, scope: SCOPE })
    least.exposeCaller(app)
    app.use(least.middleware)
    app.get('/hello', least.guard, (_req, res) => res.json(HELLO))
  },
  // The gate's middleware alone (no route guard): what the guard adds, by difference.
  'express-portcullis-gate-only': (app) => {
    app.use(expressGate())
    app.get('/hello', (_req, res) => res.json(HELLO))
  },
  'express-portcullis': (app) => {
    app.use(expressGate())
    app.get('/hello', expressPortcullis.requireScopes(SCOPE), (_req, res) => res.json(HELLO))
  },
}

// PORTCULLIS_BASELINE=<a checkout with built packages>: the same Portcullis servers built from it,
// loaded in the same batches, for a before/after measured in one run.
if (core.baseline !== undefined) {
  const [baseCore, baseFastify, baseExpress] = [core.baseline, fastify.baseline, expressBuilds.baseline]
  variants['portcullis@baseline'] = async (app) => {
    await app.register(baseFastify.portcullis, gateOptions(baseCore))
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
  }
  // On the baseline checkout's own Express (`baselineExpress`): each build defines `req.auth` on its copy.
  expressVariants['express-portcullis@baseline'] = (app) => {
    app.use(baseExpress.portcullis(gateOptions(baseCore)))
    app.get('/hello', baseExpress.requireScopes(SCOPE), (_req, res) => res.json(HELLO))
  }
}

const servers = []
const onlyVariants = args.only !== undefined ? [args.only] : process.env.VARIANTS?.split(',')
for (const [name, setup] of Object.entries(expressVariants)) {
  if (!onlyVariants?.includes(name)) continue
  const app = (name.endsWith('@baseline') ? baselineExpress() : express)()
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
if (args.count !== undefined) {
  // One variant under valgrind: the same warm-up, exactly `--count` more requests, then exit. One
  // request at a time, so each is read and answered alone and the counts repeat from run to run.
  const oneByOne = (count) => loadPipelined(servers[0].port, { count, wire: () => wire, lanes: 1, depth: 1 })
  await oneByOne(2000)
  await oneByOne(Number(args.count))
  for (const s of servers) await s.app.close()
  process.exit(0)
}
console.log(`load average ${loadAverage().join(' ')}`)
for (const s of servers) await batch(s.port, 2000) // warm up the JIT and the cache
// --heap: the heap's growth over a batch, from a collected heap; the young generation is made
// large enough that no scavenge happens within a batch (the lowest batches would show one).
const heapBytes = async (port) => {
  const before = heapAfterGc()
  await batch(port, n)
  return (process.memoryUsage().heapUsed - before) / n
}
await alternate(servers, Number(args.batches), async (s) =>
  args.heap ? heapBytes(s.port) : (await cpuMicros(() => batch(s.port, n))) / n,
)
const base = median(servers[0].samples)
printTable(
  [
    'variant',
    args.heap ? 'heap bytes/req (server + a light client)>' : 'CPU µs/req (server + a light client)>',
    'range>',
    'above the first>',
  ],
  servers.map((s) => {
    const m = median(s.samples)
    return [s.name, fmt1(m), range(s.samples).map(fmt1).join('–'), fmt1(m - base)]
  }),
)
console.log(`load average ${loadAverage().join(' ')}`)
for (const s of servers) await s.app.close()
