// The HTTP bench's scenarios: which server (http-servers.mjs) each loads, with which tokens, and
// what a correct answer is. `tokens`: 'none', 'one' (one token repeated: warm), 'distinct' (a new
// token every request: cold), 'dpop'. `redis`: the scenario needs the bench's redis-server;
// `introspection`: its servers call the bench's introspection endpoint.

const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18',
}
const MCP_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'ping' } },
})

/** Every scenario, in run order; the Express ones when packages/express builds. */
export function scenarioList({ expressAvailable }) {
  const hello = { method: 'GET', path: '/hello', expect: (body) => body?.hello === 'world' }
  const mcp = {
    method: 'POST',
    path: '/mcp',
    headers: MCP_HEADERS,
    body: MCP_CALL,
  }
  const list = [
    { name: 'fastify-bare', label: 'Fastify, bare route', server: 'fastify-bare', tokens: 'none', ...hello },
    {
      name: 'fastify-bare-bearer',
      label: 'Fastify, bare route, the same request with its bearer token (ignored)',
      server: 'fastify-bare',
      tokens: 'one',
      unprotected: true,
      ...hello,
    },
    {
      name: 'fastify-floor-warm',
      label: 'Fastify, the floor: a hook that finds the token in a Map, one token (warm)',
      server: 'fastify-floor',
      tokens: 'one',
      ...hello,
    },
    {
      name: 'portcullis-warm',
      label: 'Fastify + Portcullis, one token (warm)',
      server: 'fastify-portcullis',
      tokens: 'one',
      ...hello,
    },
    {
      name: 'portcullis-dpop-warm',
      label: 'Fastify + Portcullis, one DPoP-bound token, a new proof each request (warm)',
      server: 'fastify-portcullis-dpop',
      tokens: 'dpop',
      ...hello,
    },
    {
      name: 'portcullis-cold',
      label: 'Fastify + Portcullis, distinct tokens (cold)',
      server: 'fastify-portcullis',
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'portcullis-cold-event-loop',
      label: "Fastify + Portcullis, distinct tokens, signatureCheck 'event-loop'",
      server: 'fastify-portcullis',
      env: { BENCH_SIGNATURE_CHECK: 'event-loop' },
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'portcullis-cold-thread-pool',
      label: "Fastify + Portcullis, distinct tokens, signatureCheck 'thread-pool'",
      server: 'fastify-portcullis',
      env: { BENCH_SIGNATURE_CHECK: 'thread-pool' },
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'portcullis-warm-2p',
      label: 'Fastify + Portcullis, one token, two server processes',
      server: 'fastify-portcullis',
      env: { BENCH_WORKERS: '2' },
      tokens: 'one',
      ...hello,
    },
    {
      name: 'portcullis-cold-event-loop-2p',
      label: "Fastify + Portcullis, distinct tokens, 'event-loop', two server processes",
      server: 'fastify-portcullis',
      env: { BENCH_WORKERS: '2', BENCH_SIGNATURE_CHECK: 'event-loop' },
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'portcullis-cold-thread-pool-2p',
      label: "Fastify + Portcullis, distinct tokens, 'thread-pool', two server processes",
      server: 'fastify-portcullis',
      env: { BENCH_WORKERS: '2', BENCH_SIGNATURE_CHECK: 'thread-pool' },
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'fastify-jwt-warm',
      label: '@fastify/jwt + get-jwks (fast-jwt cache on), one token',
      server: 'fastify-jwt',
      tokens: 'one',
      ...hello,
    },
    {
      name: 'fastify-jwt-cold',
      label: '@fastify/jwt + get-jwks (fast-jwt cache on), distinct tokens',
      server: 'fastify-jwt',
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'fastify-jwt-static-warm',
      label: '@fastify/jwt, key given statically (fast-jwt cache on), one token',
      server: 'fastify-jwt-static',
      tokens: 'one',
      ...hello,
    },
    {
      name: 'fastify-jwt-static-cold',
      label: '@fastify/jwt, key given statically (fast-jwt cache on), distinct tokens',
      server: 'fastify-jwt-static',
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'jose-hook',
      label: 'Fastify + jose jwtVerify hook, distinct tokens',
      server: 'fastify-jose-hook',
      tokens: 'distinct',
      ...hello,
    },
    {
      name: 'express-sdk',
      label: 'Express 5 + SDK requireBearerAuth (jose), one token',
      server: 'express-sdk',
      tokens: 'one',
      ...hello,
    },
  ]
  if (expressAvailable) {
    list.push(
      {
        name: 'express-bare',
        label: 'Express 5, bare route',
        server: 'express-bare',
        tokens: 'none',
        ...hello,
      },
      {
        name: 'express-bare-bearer',
        label: 'Express 5, bare route, the same request with its bearer token (ignored)',
        server: 'express-bare',
        tokens: 'one',
        unprotected: true,
        ...hello,
      },
      {
        name: 'express-two-layers',
        label:
          'Express 5, bare route behind two layers that do nothing (a middleware and a route middleware: the shape of an auth layer and its scope guard), the same request with its bearer token',
        server: 'express-two-layers',
        tokens: 'one',
        unprotected: true,
        ...hello,
      },
      {
        name: 'express-jwt',
        label: 'Express 5 + express-jwt + jwks-rsa, one token (no cache)',
        server: 'express-jwt',
        tokens: 'one',
        ...hello,
      },
      {
        name: 'express-floor-warm',
        label: 'Express 5, the floor: a middleware that finds the token in a Map, one token (warm)',
        server: 'express-floor',
        tokens: 'one',
        ...hello,
      },
      {
        name: 'express-floor-guarded-warm',
        label:
          'Express 5, the floor with its scope check in a route middleware (two layers, as Portcullis), one token (warm)',
        server: 'express-floor',
        env: { BENCH_FLOOR_GUARD: '1' },
        tokens: 'one',
        ...hello,
      },
      {
        name: 'express-least-warm',
        label: 'Express 5, the least layer that keeps the rules of Portcullis, one token (warm)',
        server: 'express-least',
        tokens: 'one',
        ...hello,
      },
      {
        name: 'express-portcullis-warm',
        label: 'Express 5 + Portcullis, one token (warm)',
        server: 'express-portcullis',
        tokens: 'one',
        ...hello,
      },
    )
  }
  list.push(
    {
      name: 'mcp-bare',
      label: 'MCP tools/call, SDK 1.x transport on Fastify',
      server: 'mcp-fastify-bare',
      tokens: 'none',
      ...mcp,
      expect: (body) => body?.result?.content?.[0]?.text === 'ping from anonymous',
    },
    {
      name: 'mcp-bare-bearer',
      label: 'MCP tools/call, SDK 1.x transport on Fastify, the same request with its bearer token (ignored)',
      server: 'mcp-fastify-bare',
      tokens: 'one',
      unprotected: true,
      ...mcp,
      expect: (body) => body?.result?.content?.[0]?.text === 'ping from anonymous',
    },
    {
      name: 'mcp-portcullis',
      label: 'MCP tools/call, same + Portcullis mcpRoute (warm)',
      server: 'mcp-fastify-portcullis',
      tokens: 'one',
      ...mcp,
      // The tool sees the caller: proof the verified AuthInfo reached the SDK.
      expect: (body) => body?.result?.content?.[0]?.text === 'ping from bench-client',
    },
  )
  list.push(...redisScenarios(hello))
  return list
}

/**
 * State shared through Redis (@portcullis/redis) in one server process and in two (node:cluster,
 * one port), warm and cold: a jwtVerifier with the Redis deny list and attempt limiter, and an
 * introspectionVerifier whose answers are cached in Redis (with the same deny list and limiter),
 * beside the introspection verifier alone in one process.
 */
function redisScenarios(hello) {
  const kinds = [
    ['redis-jwt', 'fastify-portcullis-redis', 'Fastify + Portcullis (JWT) + Redis deny list and limiter'],
    [
      'introspection',
      'fastify-portcullis-introspection',
      'Fastify + Portcullis (introspection, in-memory cache)',
    ],
    [
      'redis-introspection',
      'fastify-portcullis-introspection-redis',
      'Fastify + Portcullis (introspection) + Redis cache, deny list and limiter',
    ],
  ]
  const list = []
  for (const [prefix, server, what] of kinds) {
    const redis = server.endsWith('-redis')
    for (const [tokens, temperature, tokenText] of [
      ['one', 'warm', 'one token'],
      ['distinct', 'cold', 'distinct tokens'],
    ]) {
      // Two processes only where the state is shared: alone, each would introspect every token.
      for (const workers of redis ? [1, 2] : [1]) {
        list.push({
          name: `${prefix}-${temperature}${workers === 2 ? '-2p' : ''}`,
          label: `${what}, ${tokenText}${workers === 2 ? ', two processes' : ''}`,
          server,
          tokens,
          env: workers === 2 ? { BENCH_WORKERS: '2' } : {},
          redis,
          introspection: server.includes('introspection'),
          ...hello,
        })
      }
    }
  }
  return list
}
