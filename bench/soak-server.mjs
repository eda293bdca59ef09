// The server soak.mjs loads, in its own child process: Fastify with the Portcullis plugin (JWT
// verifier on a loopback JWKS, in-memory deny list and attempt limiter), reporting its memory and
// cache sizes to the parent over IPC once a second. Listens on 127.0.0.1, port 0.
//
// Environment (set by soak.mjs): SOAK_ISSUER, SOAK_JWKS_URI, SOAK_RESOURCE, SOAK_SCOPE,
// SOAK_REVOKED_FINGERPRINT, SOAK_CACHE_ENTRIES, SOAK_MAX_ADDRESSES.
import { AttemptWindows, jwtVerifier, MemoryDenyList } from '@portcullis/core'
import { portcullis } from '@portcullis/fastify'
import Fastify from 'fastify'

const env = (name) => {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`soak-server: ${name} is not set`)
  return value
}
const resource = env('SOAK_RESOURCE')
const issuer = env('SOAK_ISSUER')

const verifier = jwtVerifier({
  issuer,
  audience: resource,
  jwksUri: env('SOAK_JWKS_URI'),
  cache: { maxEntries: Number(env('SOAK_CACHE_ENTRIES')) },
})
const denyList = new MemoryDenyList({ maxEntries: 1000 })
denyList.add({ fingerprint: env('SOAK_REVOKED_FINGERPRINT'), expiresAt: Date.now() / 1000 + 86_400 })
// Counts every refused token per client address; the limit is out of reach, the bound is what is
// watched (the load comes from many addresses through X-Forwarded-For).
const attemptLimiter = new AttemptWindows({
  maxAttempts: 1_000_000,
  window: 60,
  maxAddresses: Number(env('SOAK_MAX_ADDRESSES')),
})

const app = Fastify({ trustProxy: true })
await app.register(portcullis, {
  resource,
  authorizationServers: [issuer],
  verifier,
  denyList,
  attemptLimiter,
})
const HELLO = { hello: 'world' }
app.get('/soak', { config: { scopes: [env('SOAK_SCOPE')] } }, async () => HELLO)
await app.listen({ port: 0, host: '127.0.0.1' })

const sample = () => {
  const memory = process.memoryUsage()
  const cache = verifier.stats().cache
  process.send?.({
    type: 'sample',
    at: Date.now(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    caches: {
      tokenCache: { entries: cache.entries, maxEntries: cache.maxEntries, pending: cache.pending },
      attemptWindows: { entries: attemptLimiter.size, maxEntries: Number(env('SOAK_MAX_ADDRESSES')) },
      denyList: { entries: denyList.size, maxEntries: denyList.maxEntries },
      keys: { entries: verifier.keySet.status().keys, maxEntries: 100 },
    },
  })
}
const timer = setInterval(sample, 1000)
process.send?.({ type: 'ready', port: app.server.address().port })
sample()

const stop = async () => {
  clearInterval(timer)
  await app.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('disconnect', stop)
