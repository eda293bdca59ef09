// The MCP overhead of Portcullis (`1 - mcp-portcullis / mcp-bare`) by two measures, both in one
// process with a light in-process client (the same for every variant, so differences are server cost):
//
// - CPU per request: the servers are loaded in alternating batches; process CPU µs per request,
//   median of batches. With PORTCULLIS_BASELINE=<a checkout with built packages>, the same
//   Portcullis server built from it (`mcp-portcullis@baseline`) joins the batches: before and after
//   in one run.
// - Instructions per request (`--instructions`): each variant runs under valgrind (cachegrind, no
//   cache simulation) twice, with `--requests` and with three times as many; the difference of the two
//   instruction counts over the difference of the request counts leaves start-up out. Deterministic
//   where the timings are not, but blind to what the collector and the memory system cost.
//
//   node bench/mcp-overhead.mjs [--batches 11] [--requests 1500] [--cpu-prof <dir>]
//   node bench/mcp-overhead.mjs --instructions [--requests 400]
//   PORTCULLIS_BASELINE=/path/to/checkout node bench/mcp-overhead.mjs
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { instructionsPerRequest } from './lib/instructions.mjs'
import { ISSUER, keyPair, mintJwts, publicJwk, RESOURCE, SCOPE } from './lib/jwt.mjs'
import { baselineBuild, thisBuild } from './lib/load-builds.mjs'
import { bareMcpRoute, mcpServerFactory } from './lib/mcp-app.mjs'
import { alternate, loadAverage, median, quantile } from './lib/measure.mjs'
import { loadPipelined } from './lib/pipeline-client.mjs'
import { cpuProfile } from './lib/profile.mjs'

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '11' },
    requests: { type: 'string' },
    variants: { type: 'string' },
    'cpu-prof': { type: 'string' },
    instructions: { type: 'boolean', default: false },
    // Internal (the --instructions runs): one variant, a fixed number of requests, no report.
    count: { type: 'string' },
  },
})

const SCRIPT = fileURLToPath(import.meta.url)
const baselineDir = process.env.PORTCULLIS_BASELINE

if (args.instructions) {
  await countInstructions()
} else {
  await measureCpu()
}

/** A Fastify app serving an MCP `tools/call` the way bench/http-servers.mjs does: bare, or behind Portcullis. */
async function variantApps(jwks) {
  const { default: Fastify } = await import('fastify')
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js')
  const portcullisVariant = (core, fastify) => async () => {
    const app = Fastify()
    await app.register(fastify.portcullis, {
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier: core.jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: jwks }),
      scopes: { implies: { 'bench:admin': [SCOPE] } },
    })
    await app.register(fastify.mcpRoute, {
      path: '/mcp',
      server: await mcpServerFactory((server) => core.withScopes(server, SCOPE)),
      transport: StreamableHTTPServerTransport,
      sessions: false,
      transportOptions: { enableJsonResponse: true },
    })
    return app
  }
  const apps = {
    'mcp-bare': async () => {
      const app = Fastify()
      await bareMcpRoute(app)
      return app
    },
    'mcp-portcullis': portcullisVariant(await thisBuild('core'), await thisBuild('fastify')),
  }
  if (baselineDir !== undefined) {
    apps['mcp-portcullis@baseline'] = portcullisVariant(
      await baselineBuild('core'),
      await baselineBuild('fastify'),
    )
  }
  return apps
}

async function startServers(names) {
  const { privateKey, publicKey } = keyPair('ES256')
  const [token] = mintJwts({ alg: 'ES256', privateKey, count: 1 })
  const apps = await variantApps([publicJwk(publicKey, 'ES256')])
  const servers = []
  for (const name of names ?? Object.keys(apps)) {
    if (apps[name] === undefined)
      throw new Error(`unknown variant ${name} (known: ${Object.keys(apps).join(', ')})`)
    const app = await apps[name]()
    await app.listen({ host: '127.0.0.1', port: 0 })
    servers.push({ name, app, port: app.server.address().port, samples: [] })
  }
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'ping' } },
  })
  const wire = Buffer.from(
    'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
      `Authorization: Bearer ${token}\r\n` +
      'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
      `Mcp-Protocol-Version: 2025-06-18\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'latin1',
  )
  return { servers, wire }
}

function batch(port, wire, count) {
  return loadPipelined(port, { count, wire: () => wire })
}

async function measureCpu() {
  const n = Number(args.requests ?? 1500)
  const { servers, wire } = await startServers(args.variants?.split(','))
  for (const s of servers) await batch(s.port, wire, 600) // warm up the JIT and the token cache
  if (args.count !== undefined) {
    // One variant under valgrind: exactly `--count` more requests, then exit.
    await batch(servers[0].port, wire, Number(args.count))
    for (const s of servers) await s.app.close()
    return
  }
  await alternate(servers, Number(args.batches), async (s) => {
    const before = process.cpuUsage()
    await batch(s.port, wire, n)
    const used = process.cpuUsage(before)
    return (used.user + used.system) / n
  })
  if (args['cpu-prof'] !== undefined) {
    // One more batch per variant under the inspector's profiler: the request path only, no start-up.
    mkdirSync(args['cpu-prof'], { recursive: true })
    for (const s of servers) {
      const { profile } = await cpuProfile(() => batch(s.port, wire, n), 200)
      const file = join(args['cpu-prof'], `${s.name}.cpuprofile`)
      writeFileSync(file, JSON.stringify(profile))
      console.log(`profile: ${file}`)
    }
  }
  const bare = servers.find((s) => s.name === 'mcp-bare')
  const base = bare === undefined ? undefined : median(bare.samples)
  console.log(`${args.batches} batches of ${n} requests, load ${loadAverage().join(' ')}`)
  // The machine's load moves every variant of one batch round together: the overhead within each
  // round (the variants loaded one after the other), then its median, is steadier than a ratio of medians.
  const quartiles = (v) => [quantile(v, 0.25), median(v), quantile(v, 0.75)]
  console.log(
    '| variant | CPU µs/req, median (range) | overhead vs mcp-bare: of medians | per round, median (quartiles) |',
  )
  console.log('|---|---:|---:|---:|')
  for (const s of servers) {
    const m = median(s.samples)
    const range = `${Math.min(...s.samples).toFixed(0)}–${Math.max(...s.samples).toFixed(0)}`
    const overhead = base === undefined ? '' : `${((1 - base / m) * 100).toFixed(1)} %`
    const rounds = bare === undefined ? [] : s.samples.map((cpu, i) => (1 - bare.samples[i] / cpu) * 100)
    const [q1, q2, q3] = rounds.length === 0 ? [] : quartiles(rounds)
    const perRound = q2 === undefined ? '' : `${q2.toFixed(1)} % (${q1.toFixed(1)} to ${q3.toFixed(1)})`
    console.log(`| ${s.name} | ${m.toFixed(0)} (${range}) | ${overhead} | ${perRound} |`)
  }
  for (const s of servers) await s.app.close()
}

/**
 * Instructions per request of each variant, by difference of two cachegrind runs (`--requests`
 * and three times as many, after the same warm-up), and the overhead `1 - bare / portcullis`
 * computed on them (the same ratio as the CPU measure). V8 runs single-threaded (`--single-threaded`:
 * no concurrent compiler or collector threads), so the counts repeat from run to run.
 */
async function countInstructions() {
  const low = Number(args.requests ?? 400)
  const names = args.variants?.split(',') ?? [
    'mcp-bare',
    'mcp-portcullis',
    ...(baselineDir === undefined ? [] : ['mcp-portcullis@baseline']),
  ]
  const perRequest = await instructionsPerRequest(SCRIPT, names, low, (name, count) => [
    '--variants',
    name,
    '--count',
    String(count),
  ])
  console.log(`instructions per request, (${3 * low} requests − ${low}) / ${2 * low}, cachegrind`)
  for (const name of names) {
    console.log(`${name}: ${(perRequest[name] / 1e6).toFixed(3)} M instructions per request`)
  }
  const bare = perRequest['mcp-bare']
  if (bare === undefined) return
  for (const name of names) {
    if (name === 'mcp-bare') continue
    console.log(`overhead of ${name}: ${((1 - bare / perRequest[name]) * 100).toFixed(1)} %`)
  }
}
