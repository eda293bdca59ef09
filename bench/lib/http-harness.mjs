// What the HTTP benches share: the scenario servers in child processes (http-servers.mjs), pinned
// to a CPU when asked, their CPU time read over IPC and from /proc, the sanity check every server
// passes before it is loaded, and the checks of an autocannon run.
import { execFileSync, fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchKeyPair, mintToken } from '../token-mint.mjs'
import { serveJwks } from './loopback.mjs'

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)))
export const ROOT = dirname(BENCH_DIR)
export const EXPRESS_ENTRY = join(ROOT, 'packages/express/dist/index.js')
const JSON_HEADERS = { 'content-type': 'application/json' }
/** The resource every scenario's server protects, and the scope its route needs. */
export const RESOURCE = 'https://bench.example'
export const SCOPE = 'bench:read'
const SERVER_START_TIMEOUT_MS = 20_000

/** CPUs of this machine, read before a bench pins itself to one. */
export const CPU_COUNT = availableParallelism()

/**
 * Starts the server `kind` of http-servers.mjs in a child process and waits for its port.
 * `cpuProfile`: a directory for a V8 CPU profile of it, sampled every 250 µs. Resolves to
 * `{ port, pid, stop(), cpuUsage() }`; `cpuUsage()` is the child's `process.cpuUsage()` over IPC.
 */
export function startServer(kind, env, { cpuProfile } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(join(BENCH_DIR, 'http-servers.mjs'), [kind], {
      cwd: BENCH_DIR,
      env,
      execArgv:
        cpuProfile === undefined
          ? []
          : [
              '--cpu-prof',
              // 4 samples per ms (the default is 1): enough for a layer's share (profile-shares.mjs).
              '--cpu-prof-interval=250',
              `--cpu-prof-dir=${cpuProfile}`,
              `--cpu-prof-name=${kind}-${Date.now()}.cpuprofile`,
            ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const exited = new Promise((done) => child.once('exit', done))
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`server ${kind} did not start within ${SERVER_START_TIMEOUT_MS} ms`))
    }, SERVER_START_TIMEOUT_MS)
    child.once('message', (message) => {
      clearTimeout(timer)
      const cpuUsage = () =>
        new Promise((answer, refuse) => {
          const timer = setTimeout(
            () => refuse(new Error(`server ${kind} did not report its CPU time`)),
            10_000,
          )
          child.once('message', (reply) => {
            clearTimeout(timer)
            answer(reply.cpuUsage)
          })
          child.send('cpu-usage')
        })
      resolve({ port: message.port, pid: child.pid, stop, cpuUsage })
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`server ${kind} exited early (${signal ?? code})`))
    })
  })
}

/**
 * The issuer every scenario's server trusts: an ES256 key pair, its JWKS served on loopback, the
 * claims of the bench's tokens and one token with them (the warm scenarios' own), and the
 * environment the servers read (http-servers.mjs). Close `jwksServer` when done.
 */
export async function benchIssuer() {
  const keys = benchKeyPair()
  const jwksServer = await serveJwks(keys.jwks)
  const issuer = `http://127.0.0.1:${jwksServer.address().port}`
  const nowSeconds = Math.floor(Date.now() / 1000)
  const claims = {
    iss: issuer,
    aud: RESOURCE,
    client_id: 'bench-client',
    scope: `${SCOPE} bench:write`,
    iat: nowSeconds,
    exp: nowSeconds + 3600,
  }
  const warmToken = mintToken({ privateJwk: keys.privateJwk, claims, index: -1 })
  const env = {
    ...process.env,
    BENCH_ISSUER: issuer,
    BENCH_JWKS_URI: `${issuer}/jwks`,
    BENCH_RESOURCE: RESOURCE,
    BENCH_SCOPE: SCOPE,
    BENCH_EXPRESS_ENTRY: EXPRESS_ENTRY,
    NODE_ENV: 'production',
  }
  return { keys, jwksServer, claims, nowSeconds, warmToken, env }
}

/** CPU time of the main thread of process `pid` so far, in µs (`/proc`), or `undefined` where there is none. */
export function mainThreadMicros(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    // utime + stime, in USER_HZ ticks: 100 a second on every Linux Node supports.
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return undefined
  }
}

/** Pins every thread of process `pid` to CPU `cpu` (`taskset`, util-linux); throws a clear error without it. */
export function pinTo(pid, cpu) {
  if (CPU_COUNT < 2) throw new Error('--pin needs at least 2 CPUs')
  try {
    execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(pid)], { stdio: 'ignore' })
  } catch (error) {
    throw new Error(`--pin: taskset could not pin process ${pid} to CPU ${cpu} (${error.message})`)
  }
}

/** `pinTo`, or the run ends (exit 2) with its message, prefixed with `who`. */
export function pinOrExit(pid, cpu, who) {
  try {
    pinTo(pid, cpu)
  } catch (error) {
    console.error(`${who}: ${error.message}`)
    process.exit(2)
  }
}

/** What went wrong in an autocannon run, as lines (none: the run is good). */
export function checkRun(phase, run) {
  const problems = []
  if (run.non2xx > 0) problems.push(`${phase}: ${run.non2xx} responses not 2xx`)
  if (run.errors > 0) problems.push(`${phase}: ${run.errors} connection errors`)
  if (run.timeouts > 0) problems.push(`${phase}: ${run.timeouts} timeouts`)
  if (run.requests.total === 0) problems.push(`${phase}: no request completed`)
  return problems
}

/**
 * Before loading a server, prove it answers as the scenario claims (and that the gate is really
 * on): `good` is the request's credentials (`{ authorization, headers }`, or `{}` for none).
 */
export async function sanityCheck(url, scenario, good) {
  const send = (authorization, more = {}) =>
    fetch(`${url}${scenario.path}`, {
      method: scenario.method,
      headers: {
        ...(scenario.headers ?? JSON_HEADERS),
        ...(authorization ? { authorization } : {}),
        ...more,
      },
      body: scenario.body,
      signal: AbortSignal.timeout(10_000),
    })
  const ok = await send(good.authorization, good.headers)
  const text = await ok.text()
  if (ok.status !== 200)
    throw new Error(`sanity check: expected 200, got ${ok.status}: ${text.slice(0, 200)}`)
  const body = parseJson(text)
  if (!scenario.expect(body)) throw new Error(`sanity check: unexpected body ${text.slice(0, 200)}`)
  if (scenario.tokens !== 'none' && !scenario.unprotected) {
    const denied = await send(undefined)
    await denied.arrayBuffer()
    if (denied.status !== 401 || !denied.headers.get('www-authenticate')?.startsWith('Bearer')) {
      throw new Error(
        `sanity check: a request without a token got ${denied.status}, not a 401 Bearer challenge`,
      )
    }
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
