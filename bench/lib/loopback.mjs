// Servers the benches run beside what they measure, on 127.0.0.1 and an ephemeral port: the
// issuer's JWKS, an RFC 7662 introspection endpoint, and a redis-server for the shared-state
// scenarios.
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:http'
import { connect, createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'

const listen = (server) =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })

/** The issuer's JWKS at `/jwks` (fetched once by each server that loads it). */
export function serveJwks(jwks) {
  const body = JSON.stringify(jwks)
  return listen(
    createServer((req, res) => {
      if (req.url !== '/jwks') return void res.writeHead(404).end()
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }).end(body)
    }),
  )
}

/**
 * An RFC 7662 introspection endpoint at `/introspect`: every token is active, with the claims
 * `answer(token)` gives. Counts the calls (`server.calls`), so a bench can show what a shared cache saves.
 */
export async function serveIntrospection(answer) {
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('latin1')
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      server.calls++
      const token = new URLSearchParams(body).get('token') ?? ''
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(token)))
    })
  })
  server.calls = 0
  await listen(server)
  server.endpoint = `http://127.0.0.1:${server.address().port}/introspect`
  return server
}

/** A port free at the time of asking. */
async function freePort() {
  const probe = await listen(createNetServer())
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

// redis-server runs under a shell that kills it when our end of its stdin closes: when stop()
// closes it, and when this process dies without stopping it, so no server outlives a run.
const WATCHED = 'exec 3<&0; redis-server "$@" & pid=$!; (read _ <&3; kill -9 $pid 2>/dev/null) & wait $pid'

/**
 * A redis-server without persistence, or `{ missing: reason }` when redis-server is not installed
 * (the caller skips what needs it and says so). Resolves `{ url, stop() }`.
 */
export async function startRedis() {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0)
    return { missing: `redis-server does not run (${probe.error?.message ?? probe.stderr.trim()})` }
  const port = await freePort()
  // No persistence: the bench's state lives for one run.
  const config = { port, bind: '127.0.0.1', save: '', appendonly: 'no', dir: tmpdir() }
  const args = Object.entries(config).flatMap(([name, value]) => [`--${name}`, String(value)])
  const child = spawn('sh', ['-c', WATCHED, 'sh', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const stop = async () => {
    if (child.exitCode !== null) return
    child.stdin.end()
    await exited
  }
  try {
    await new Promise((resolve, reject) => {
      let output = ''
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start in 10 s: ${output}`)),
        10_000,
      )
      child.stdout.on('data', (chunk) => {
        output += chunk
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          child.stdout.resume()
          resolve()
        }
      })
      child.stderr.on('data', (chunk) => {
        output += chunk
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}: ${output}`))
      })
    })
  } catch (error) {
    await stop()
    return { missing: error.message }
  }
  child.stdout.removeAllListeners('data')
  child.stdout.resume()
  child.stderr.resume()
  return { url: `redis://127.0.0.1:${port}`, stop }
}

/**
 * One command to the Redis at `url` over RESP, without a client library: resolves the reply's
 * text (a status line's or a bulk string's). For FLUSHALL between scenarios and INFO cpu.
 */
export function redisCommand(url, ...words) {
  const { hostname, port } = new URL(url)
  const request = `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let reply = Buffer.alloc(0)
    const timer = setTimeout(() => socket.destroy(new Error(`redis ${words[0]}: no answer in 5 s`)), 5000)
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.on('data', (chunk) => {
      reply = Buffer.concat([reply, chunk])
      const line = reply.indexOf('\r\n')
      if (line < 0) return
      const kind = String.fromCharCode(reply[0])
      if (kind === '-') return done(new Error(`redis ${words[0]}: ${reply.subarray(1, line)}`))
      if (kind !== '$') return done(undefined, reply.subarray(1, line).toString())
      const length = Number(reply.subarray(1, line).toString())
      if (reply.length >= line + 2 + length)
        done(undefined, reply.subarray(line + 2, line + 2 + length).toString())
    })
    socket.write(request)
    const done = (error, text) => {
      clearTimeout(timer)
      socket.end()
      if (error) reject(error)
      else resolve(text)
    }
  })
}

/** redis-server's own CPU time (user + system, from INFO cpu), in µs. */
export async function redisCpuMicros(url) {
  const info = await redisCommand(url, 'INFO', 'cpu')
  const seconds = (name) => Number(info.match(new RegExp(`^used_cpu_${name}:([\\d.]+)`, 'm'))?.[1])
  return (seconds('user') + seconds('sys')) * 1e6
}
