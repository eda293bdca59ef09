// Where the warm hit path's cost goes, by difference: several Fastify servers in one process, each
// a step more of the auth layer, loaded in alternating batches by an in-process HTTP/1.1 client
// (the client's cost is the same for every variant, so differences are server cost). Reports
// process CPU µs per request, median of batches.
//
//   node bench/hit-path-variants.mjs [--batches 15] [--requests 4000]
//   VARIANTS=express-bare,express-portcullis node bench/hit-path-variants.mjs   (the Express pair only on request)
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { benchKeyPair, mintToken } from './token-mint.mjs'

const { values: args } = parseArgs({
  options: { batches: { type: 'string', default: '15' }, requests: { type: 'string', default: '4000' } },
})
const { default: Fastify } = await import('fastify')
const { default: portcullis } = await import('@portcullis/fastify')
const { jwtVerifier } = await import('@portcullis/core')

const RESOURCE = 'https://bench.example'
const ISSUER = 'https://issuer.example'
const SCOPE = 'bench:read'
const HELLO = { hello: 'world' }
const keys = benchKeyPair()
const now = Math.floor(Date.now() / 1000)
const token = mintToken({
  privateJwk: keys.privateJwk,
  claims: {
    iss: ISSUER,
    aud: RESOURCE,
    client_id: 'bench-client',
    scope: `${SCOPE} bench:write`,
    iat: now,
    exp: now + 3600,
  },
  index: 1,
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
      reply.header('access-control-expose-headers', 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version')
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

const express = (await import('express')).default
const expressPortcullis = await import(new URL('../packages/express/dist/index.js', import.meta.url).href)
const { createServer } = await import('node:http')
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
const baselineDir = process.env.PORTCULLIS_BASELINE
if (baselineDir !== undefined) {
  const from = (path) => import(new URL(`file://${baselineDir}/${path}`).href)
  const baseCore = await from('packages/core/dist/index.js')
  const baseFastify = await from('packages/fastify/dist/index.js')
  const baseExpress = await from('packages/express/dist/index.js')
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

// A raw keep-alive client that pipelines ready-made requests: it costs little per request, so the
// process CPU per request is mostly the server's.
const wire = Buffer.from(
  `GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  'latin1',
)
const DEPTH = 16
async function batch(port, n) {
  const perSocket = Math.ceil(n / 4)
  await Promise.all(Array.from({ length: 4 }, () => pipeline(port, perSocket)))
}
function pipeline(port, count) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let sent = 0
    let answered = 0
    let tail = ''
    const send = () => {
      const k = Math.min(DEPTH, count - sent)
      if (k <= 0) return
      socket.write(k === 1 ? wire : Buffer.concat(Array(k).fill(wire)))
      sent += k
    }
    socket.on('connect', send)
    socket.on('data', (chunk) => {
      const text = tail + chunk.toString('latin1')
      let at = 0
      for (;;) {
        const i = text.indexOf('HTTP/1.1 ', at)
        if (i < 0) break
        if (text.startsWith('HTTP/1.1 200', i) === false && text.length >= i + 12) {
          reject(new Error(`status ${text.slice(i, i + 12)}`))
          socket.destroy()
          return
        }
        answered++
        at = i + 9
      }
      tail = text.slice(Math.max(at, text.length - 12))
      if (answered >= count) {
        socket.end()
        resolve()
      } else if (sent - answered < DEPTH / 2) send()
    })
    socket.on('error', reject)
  })
}

const n = Number(args.requests)
for (const s of servers) await batch(s.port, 2000) // warm up the JIT and the cache
for (let b = 0; b < Number(args.batches); b++) {
  const order = b % 2 === 0 ? servers : [...servers].reverse()
  for (const s of order) {
    const before = process.cpuUsage()
    await batch(s.port, n)
    const used = process.cpuUsage(before)
    s.samples.push((used.user + used.system) / n)
  }
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]
const base = median(servers[0].samples)
console.log('| variant | CPU µs/req (server + a light client) | above bare |')
console.log('|---|---:|---:|')
for (const s of servers) {
  const m = median(s.samples)
  console.log(`| ${s.name} | ${m.toFixed(1)} | ${(m - base).toFixed(1)} |`)
}
for (const s of servers) await s.app.close()
