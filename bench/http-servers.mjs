// The servers the HTTP benchmarks load, one per child process: `node http-servers.mjs <kind>`.
// Each listens on 127.0.0.1, port 0, and reports its port to the parent over IPC. Every server
// answers the same route the same way, so the only difference between two of them is the auth layer.
//
// Environment (set by http.mjs): BENCH_ISSUER, BENCH_JWKS_URI, BENCH_RESOURCE, BENCH_SCOPE,
// BENCH_EXPRESS_ENTRY (the built @portcullis/express, for the express-portcullis server), and for
// the Redis servers (http-servers-redis.mjs) BENCH_REDIS_URL and BENCH_INTROSPECTION_ENDPOINT.
import cluster from 'node:cluster'
import { pathToFileURL } from 'node:url'
import { redisServers } from './http-servers-redis.mjs'
import { floorVerifier, leastLayer } from './lib/floor-layers.mjs'
import { bareMcpRoute, mcpServerFactory } from './lib/mcp-app.mjs'

const ISSUER = requiredEnv('BENCH_ISSUER')
const JWKS_URI = requiredEnv('BENCH_JWKS_URI')
const RESOURCE = requiredEnv('BENCH_RESOURCE')
const SCOPE = requiredEnv('BENCH_SCOPE')
const HELLO = { hello: 'world' }

/** fast-jwt's options for our tokens, as strict as it allows, its verified-token cache as large as ours. */
const FAST_JWT_STRICT = {
  algorithms: ['ES256'],
  allowedIss: ISSUER,
  allowedAud: RESOURCE,
  checkTyp: 'at+jwt',
  requiredClaims: ['exp', 'iss', 'aud'],
  cache: 10_000,
}

/** The route behind `request.jwtVerify()` (@fastify/jwt) in onRequest, the scope checked in the handler. */
function withJwtVerifyRoute(app) {
  app.addHook('onRequest', async (request, reply) => {
    try {
      await request.jwtVerify()
    } catch {
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'invalid_token' })
    }
  })
  app.get('/hello', async (request, reply) => {
    const scopes = typeof request.user.scope === 'string' ? request.user.scope.split(' ') : []
    if (!scopes.includes(SCOPE)) return reply.code(403).send({ error: 'insufficient_scope' })
    return HELLO
  })
  return app
}

const servers = {
  /** The limit: a Fastify route with nothing in front of it. */
  'fastify-bare': async () => {
    const app = (await import('fastify')).default()
    app.get('/hello', async () => HELLO)
    return listenFastify(app)
  },

  /**
   * The floor of any auth layer that remembers tokens, for the warm ratio: a callback onRequest hook
   * that finds the token in a Map (verified with jose on a miss), checks the scope, sets
   * `request.auth` and `Vary: Origin`. No challenge, CORS, metadata, telemetry, bound or expiry
   * re-check: what Portcullis does beyond this is what it costs above the floor.
   */
  'fastify-floor': async () => {
    const floor = await benchFloorVerifier()
    const app = (await import('fastify')).default()
    app.decorateRequest('auth', undefined)
    const admit = (request, reply, auth, done) => {
      if (auth === undefined) return void reply.code(401).header('WWW-Authenticate', 'Bearer').send()
      if (!auth.scopes.includes(SCOPE)) return void reply.code(403).send()
      request.auth = auth
      reply.header('vary', 'Origin')
      done()
    }
    app.addHook('onRequest', (request, reply, done) => {
      const header = request.headers.authorization
      const auth = floor.known.get(header)
      if (auth !== undefined) return admit(request, reply, auth, done)
      floor.verify(header).then((verified) => admit(request, reply, verified, done))
    })
    app.get('/hello', async () => HELLO)
    return listenFastify(app)
  },

  /** The route behind the Portcullis plugin, JWKS from the issuer, scope required on the route. */
  'fastify-portcullis': async () => {
    const app = (await import('fastify')).default()
    await registerPortcullis(app)
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
    return listenFastify(app)
  },

  /**
   * The same route with DPoP on (RFC 9449): each request a DPoP-bound token and a fresh proof. The
   * iat window is an hour, so proofs signed before the run stay good through every round.
   */
  'fastify-portcullis-dpop': async () => {
    const { MemoryDpopReplayCache } = await import('@portcullis/core')
    const { default: portcullis } = await import('@portcullis/fastify')
    const app = (await import('fastify')).default()
    await app.register(portcullis, {
      ...(await portcullisOptions()),
      dpop: {
        mode: 'allowed',
        algorithms: ['ES256'],
        maxAgeSeconds: 3600,
        replayCache: new MemoryDpopReplayCache({ maxEntries: 2_000_000 }),
      },
    })
    app.get('/hello', { config: { scopes: [SCOPE] } }, async () => HELLO)
    return listenFastify(app)
  },

  /** What users write today: an onRequest hook calling jose's jwtVerify with a remote JWKS. */
  'fastify-jose-hook': async () => {
    const { createRemoteJWKSet, jwtVerify } = await import('jose')
    const app = (await import('fastify')).default()
    const jwks = createRemoteJWKSet(new URL(JWKS_URI))
    app.decorateRequest('user', null)
    app.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization
      if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
        return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'invalid_token' })
      }
      try {
        const { payload } = await jwtVerify(header.slice(7), jwks, {
          issuer: ISSUER,
          audience: RESOURCE,
          algorithms: ['ES256'],
        })
        request.user = payload
      } catch {
        return reply.code(401).header('WWW-Authenticate', 'Bearer error="invalid_token"').send({
          error: 'invalid_token',
        })
      }
    })
    app.get('/hello', async (request, reply) => {
      const scopes = typeof request.user.scope === 'string' ? request.user.scope.split(' ') : []
      if (!scopes.includes(SCOPE)) return reply.code(403).send({ error: 'insufficient_scope' })
      return HELLO
    })
    return listenFastify(app)
  },

  /**
   * The alternative a Fastify user picks: @fastify/jwt with get-jwks, as their READMEs integrate
   * them (the key from get-jwks by the token's kid and iss, `request.jwtVerify()` in onRequest),
   * configured as strictly as fast-jwt allows, its verified-token cache on (as large as ours).
   */
  'fastify-jwt': async () => {
    const { default: fastifyJwt } = await import('@fastify/jwt')
    const { default: buildGetJwks } = await import('get-jwks')
    const getJwks = buildGetJwks({ jwksPath: '/jwks', issuersWhitelist: [ISSUER], max: 100 })
    const app = (await import('fastify')).default()
    await app.register(fastifyJwt, {
      decode: { complete: true },
      secret: (_request, token) =>
        getJwks.getPublicKey({ kid: token.header.kid, alg: token.header.alg, domain: token.payload.iss }),
      verify: FAST_JWT_STRICT,
    })
    return listenFastify(withJwtVerifyRoute(app))
  },

  /**
   * The fastest @fastify/jwt set-up a user can write: the key fetched once at start-up and given
   * statically (no rotation, no unknown-kid refetch), the same strict options and cache.
   */
  'fastify-jwt-static': async () => {
    const { default: fastifyJwt } = await import('@fastify/jwt')
    const { createPublicKey } = await import('node:crypto')
    const { keys } = await (await fetch(JWKS_URI)).json()
    const pem = createPublicKey({ key: keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    const app = (await import('fastify')).default()
    await app.register(fastifyJwt, {
      secret: { public: pem },
      verify: FAST_JWT_STRICT,
    })
    return listenFastify(withJwtVerifyRoute(app))
  },

  /** The Express alternative: express-jwt with jwks-rsa (no verified-token cache: it verifies each request). */
  'express-jwt': async () => {
    const { expressjwt } = await import('express-jwt')
    const { default: jwksRsa } = await import('jwks-rsa')
    const app = await expressApp()
    app.get(
      '/hello',
      expressjwt({
        secret: jwksRsa.expressJwtSecret({ jwksUri: JWKS_URI, cache: true, rateLimit: true }),
        algorithms: ['ES256'],
        issuer: ISSUER,
        audience: RESOURCE,
      }),
      (req, res) => {
        const scopes = typeof req.auth?.scope === 'string' ? req.auth.scope.split(' ') : []
        if (!scopes.includes(SCOPE)) return res.status(403).json({ error: 'insufficient_scope' })
        res.json(HELLO)
      },
    )
    app.use((error, _req, res, _next) => {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'invalid_token', detail: error.name })
    })
    return listenNode(app)
  },

  /** The anchor: Express 5 with the MCP SDK 1.x requireBearerAuth and a jose verifier. */
  'express-sdk': async () => {
    const { requireBearerAuth } = await import(
      '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
    )
    const app = await expressApp()
    app.get(
      '/hello',
      requireBearerAuth({
        verifier: await joseSdkVerifier(),
        requiredScopes: [SCOPE],
        resourceMetadataUrl: `${RESOURCE}/.well-known/oauth-protected-resource`,
      }),
      (_req, res) => res.json(HELLO),
    )
    return listenNode(app)
  },

  'express-bare': async () => {
    const app = await expressApp()
    app.get('/hello', (_req, res) => res.json(HELLO))
    return listenNode(app)
  },

  /**
   * What the shape of an auth layer costs Express by itself: a middleware (`app.use`) and a route
   * middleware before the handler, both only calling `next()`; every floor and Portcullis have it.
   */
  'express-two-layers': async () => {
    const app = await expressApp()
    app.use((_req, _res, next) => next())
    app.get(
      '/hello',
      (_req, _res, next) => next(),
      (_req, res) => res.json(HELLO),
    )
    return listenNode(app)
  },

  /**
   * The floor on Express (see fastify-floor): a middleware that finds the token in a Map. With
   * BENCH_FLOOR_GUARD=1 the scope is checked by a second middleware on the route instead, the
   * shape of `portcullis()` with `requireScopes()`.
   */
  'express-floor': async () => {
    const floor = await benchFloorVerifier()
    const app = await expressApp()
    const guarded = process.env.BENCH_FLOOR_GUARD === '1'
    const admit = (req, res, auth, next) => {
      if (auth === undefined) return void res.status(401).set('WWW-Authenticate', 'Bearer').end()
      if (!guarded && !auth.scopes.includes(SCOPE)) return void res.status(403).end()
      req.auth = auth
      res.setHeader('Vary', 'Origin')
      next()
    }
    app.use((req, res, next) => {
      const header = req.headers.authorization
      const auth = floor.known.get(header)
      if (auth !== undefined) return admit(req, res, auth, next)
      floor.verify(header).then((verified) => admit(req, res, verified, next))
    })
    const scopeGuard = (req, res, next) =>
      req.auth.scopes.includes(SCOPE) ? next() : void res.status(403).end()
    app.get('/hello', ...(guarded ? [scopeGuard] : []), (_req, res) => res.json(HELLO))
    return listenNode(app)
  },

  /** The least layer that keeps Portcullis's rules on a remembered token (lib/floor-layers.mjs). */
  'express-least': async () => {
    const floor = await benchFloorVerifier()
    const least = leastLayer({ verify: floor.verify, resource: RESOURCE, issuer: ISSUER, scope: SCOPE })
    const app = await expressApp()
    least.exposeCaller(app)
    app.use(least.middleware)
    app.get('/hello', least.guard, (_req, res) => res.json(HELLO))
    return listenNode(app)
  },

  /** Express behind the Portcullis middleware (when packages/express is built). */
  'express-portcullis': async () => {
    const module = await import(pathToFileURL(requiredEnv('BENCH_EXPRESS_ENTRY')).href)
    const portcullis = module.portcullis ?? module.default
    const app = await expressApp()
    app.use(portcullis(await portcullisOptions()))
    const guard = typeof module.requireScopes === 'function' ? [module.requireScopes(SCOPE)] : []
    app.get('/hello', ...guard, (_req, res) => res.json(HELLO))
    return listenNode(app)
  },

  /** An MCP tools/call through the SDK 1.x Streamable HTTP transport on Fastify, no auth. */
  'mcp-fastify-bare': async () => {
    const app = (await import('fastify')).default()
    await bareMcpRoute(app)
    return listenFastify(app)
  },

  /**
   * The same server and transport behind Portcullis: the plugin's gate, then mcpRoute (JSON-RPC
   * inspection, per-tool scopes, the caller handed to the SDK), stateless, JSON responses.
   */
  'mcp-fastify-portcullis': async () => {
    const app = (await import('fastify')).default()
    const { mcpRoute } = await import('@portcullis/fastify')
    const { withScopes } = await import('@portcullis/core')
    const { StreamableHTTPServerTransport } = await import(
      '@modelcontextprotocol/sdk/server/streamableHttp.js'
    )
    await registerPortcullis(app)
    const buildServer = await mcpServerFactory((server) => withScopes(server, SCOPE))
    await app.register(mcpRoute, {
      path: '/mcp',
      server: buildServer,
      transport: StreamableHTTPServerTransport,
      sessions: false,
      transportOptions: { enableJsonResponse: true },
    })
    return listenFastify(app)
  },
}

async function portcullisOptions() {
  const { jwtVerifier } = await import('@portcullis/core')
  return {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwksUri: JWKS_URI,
      ...(process.env.BENCH_SIGNATURE_CHECK ? { signatureCheck: process.env.BENCH_SIGNATURE_CHECK } : {}),
    }),
    scopes: { implies: { 'bench:admin': [SCOPE] } },
  }
}

/** The floors' verifier (lib/floor-layers.mjs) for the bench's issuer and resource. */
const benchFloorVerifier = () => floorVerifier({ jwksUri: JWKS_URI, issuer: ISSUER, audience: RESOURCE })

async function registerPortcullis(app) {
  const { default: portcullis } = await import('@portcullis/fastify')
  await app.register(portcullis, await portcullisOptions())
}

/** An SDK `OAuthTokenVerifier` the way the SDK's examples build one on jose. */
async function joseSdkVerifier() {
  const { createRemoteJWKSet, jwtVerify } = await import('jose')
  const { InvalidTokenError } = await import('@modelcontextprotocol/sdk/server/auth/errors.js')
  const jwks = createRemoteJWKSet(new URL(JWKS_URI))
  return {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: ISSUER,
          audience: RESOURCE,
          algorithms: ['ES256'],
        })
        return {
          token,
          clientId: String(payload.client_id ?? ''),
          scopes: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
          expiresAt: payload.exp,
        }
      } catch {
        throw new InvalidTokenError('Invalid access token')
      }
    },
  }
}

async function expressApp() {
  const { default: express } = await import('express')
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  return app
}

async function listenFastify(app) {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return app.server.address().port
}

async function listenNode(app) {
  const { createServer } = await import('node:http')
  const server = createServer(app)
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  return server.address().port
}

function requiredEnv(name) {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`http-servers: ${name} is not set`)
  return value
}

Object.assign(
  servers,
  redisServers(
    {
      ISSUER,
      RESOURCE,
      SCOPE,
      HELLO,
      INTROSPECTION_ENDPOINT: process.env.BENCH_INTROSPECTION_ENDPOINT,
    },
    { portcullisOptions, listenFastify },
  ),
)

const kind = process.argv[2]
const start = servers[kind]
if (start === undefined) {
  console.error(`http-servers: unknown server "${kind}" (known: ${Object.keys(servers).join(', ')})`)
  process.exit(2)
}

// BENCH_WORKERS=n (n > 1): n server processes behind one port (node:cluster, round-robin). This
// process, the primary, reports the port and the CPU time of all of them (each worker's own, all
// threads) to the parent.
const workers = Number(process.env.BENCH_WORKERS ?? 1)
if (workers > 1 && cluster.isPrimary) {
  const forked = Array.from({ length: workers }, () => cluster.fork())
  const ports = await Promise.all(
    forked.map((worker) => new Promise((resolve) => worker.once('message', (m) => resolve(m.port)))),
  )
  const ask = (worker) =>
    new Promise((resolve) => {
      worker.once('message', (m) => resolve(m.cpuUsage))
      worker.send('cpu-usage')
    })
  process.send?.({ ready: true, port: ports[0] })
  process.on('message', async (message) => {
    if (message !== 'cpu-usage') return
    const usages = [process.cpuUsage(), ...(await Promise.all(forked.map(ask)))]
    const sum = usages.reduce((a, b) => ({ user: a.user + b.user, system: a.system + b.system }))
    process.send?.({ cpuUsage: sum })
  })
  const stop = () => {
    for (const worker of forked) worker.kill('SIGTERM')
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
} else {
  const port = await start()
  process.send?.({ ready: true, port })
  // The parent reads this process's CPU time (all threads, thread pool included) around a measured run.
  process.on('message', (message) => {
    if (message === 'cpu-usage') process.send?.({ cpuUsage: process.cpuUsage() })
  })
  // The parent ends this process when the scenario is done; losing the parent ends it too. A normal
  // exit lets --cpu-prof write its profile.
  process.on('SIGTERM', () => process.exit(0))
  process.on('disconnect', () => process.exit(0))
}
