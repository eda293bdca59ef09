// The HTTP bench's servers with state shared through Redis (@portcullis/redis), as a fleet of
// instances runs them: the Redis deny list (checked on every request against its local copy) and
// the Redis attempt limiter with a jwtVerifier, or the same with an introspectionVerifier whose
// answers are cached in Redis. Run one or two per scenario (BENCH_WORKERS), all on one redis-server.
//
// Environment (set by http.mjs): BENCH_REDIS_URL, BENCH_INTROSPECTION_ENDPOINT, and those of
// http-servers.mjs.

/**
 * The Redis parts a fleet turns on. `limiter`: refused tokens per address, counted across
 * instances (all bench tokens are valid, so each request only reads the local table). The deny list
 * must be loaded before the gate lets a token through, so this waits for it.
 */
async function sharedState() {
  const { redisAttemptLimiter, redisConnection, redisDenyList } = await import('@portcullis/redis')
  const redis = redisConnection({ url: process.env.BENCH_REDIS_URL, commandTimeoutMs: 1000 })
  const denyList = redisDenyList(redis)
  if (!(await denyList.whenReady(10_000)))
    throw new Error('http-servers: the Redis deny list did not load in 10 s')
  const attemptLimiter = redisAttemptLimiter(redis, { maxAttempts: 1000, window: 60 })
  return { redis, denyList, attemptLimiter }
}

/** Route options shared by the Redis servers: the plugin, then a scope-checked route. */
async function listenWithGate(options, listenFastify, scope, hello) {
  const { default: portcullis } = await import('@portcullis/fastify')
  const app = (await import('fastify')).default()
  await app.register(portcullis, options)
  app.get('/hello', { config: { scopes: [scope] } }, async () => hello)
  return listenFastify(app)
}

/** An introspectionVerifier at the bench's endpoint; `store`: where answers are cached (default: in memory). */
async function introspection(env, store) {
  const { introspectionVerifier } = await import('@portcullis/core')
  return introspectionVerifier({
    issuer: env.ISSUER,
    endpoint: env.INTROSPECTION_ENDPOINT,
    clientId: 'bench-rs',
    clientSecret: 'bench-secret',
    audience: env.RESOURCE,
    cache: { ttl: 300, ...(store === undefined ? {} : { store }) },
  })
}

/** The servers, keyed by kind; `env`: { ISSUER, RESOURCE, SCOPE, HELLO, INTROSPECTION_ENDPOINT }; `portcullisOptions()` is the JWT set-up. */
export function redisServers(env, { portcullisOptions, listenFastify }) {
  return {
    /** jwtVerifier (JWKS), with the Redis deny list and attempt limiter. */
    'fastify-portcullis-redis': async () => {
      const { denyList, attemptLimiter } = await sharedState()
      return listenWithGate(
        { ...(await portcullisOptions()), denyList, attemptLimiter },
        listenFastify,
        env.SCOPE,
        env.HELLO,
      )
    },

    /** introspectionVerifier with its in-memory cache, no Redis: what one instance does alone. */
    'fastify-portcullis-introspection': async () =>
      listenWithGate(
        { resource: env.RESOURCE, authorizationServers: [env.ISSUER], verifier: await introspection(env) },
        listenFastify,
        env.SCOPE,
        env.HELLO,
      ),

    /** introspectionVerifier whose answers are cached in Redis, with the Redis deny list and limiter. */
    'fastify-portcullis-introspection-redis': async () => {
      const { redisIntrospectionCache } = await import('@portcullis/redis')
      const { redis, denyList, attemptLimiter } = await sharedState()
      return listenWithGate(
        {
          resource: env.RESOURCE,
          authorizationServers: [env.ISSUER],
          verifier: await introspection(env, redisIntrospectionCache(redis)),
          denyList,
          attemptLimiter,
        },
        listenFastify,
        env.SCOPE,
        env.HELLO,
      )
    },

    /** The authorization server's RFC 7662 endpoint the introspection servers call: every token active. */
    'introspection-endpoint': async () => {
      const { serveIntrospection } = await import('./lib/loopback.mjs')
      const server = await serveIntrospection((token) => {
        const now = Math.floor(Date.now() / 1000)
        return {
          active: true,
          iss: env.ISSUER,
          aud: env.RESOURCE,
          client_id: 'bench-client',
          sub: `user-${token.slice(-12)}`,
          scope: `${env.SCOPE} bench:write`,
          iat: now,
          exp: now + 3600,
          token_type: 'Bearer',
        }
      })
      return server.address().port
    },
  }
}
