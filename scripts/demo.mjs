#!/usr/bin/env node
// `pnpm start`: compiles the dev IdP and the notes example (saying so: the first compile takes about
// a minute), then runs the dev IdP (its command, with the sign-in form) and the notes MCP server
// configured against it, each in its own process from the built packages. Waits until both answer,
// prints how to use them, streams their request logs, and stops both on Ctrl-C.
// `node scripts/demo.mjs --build-only` compiles and exits.
//
// Environment: PORTCULLIS_DEMO_MCP_PORT (3000), PORTCULLIS_DEMO_IDP_PORT (4000),
// PORTCULLIS_DEMO_KEYS_FILE (.dev-idp-keys.json), PORTCULLIS_SDK (v2 | v1), PORTCULLIS_DPOP
// (allowed | required | off; default allowed: Bearer and DPoP-bound tokens are both accepted).
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const HOST = '127.0.0.1'
const DEV_IDP_COMMAND = resolve(ROOT, 'packages/dev-idp/dist/cli.js')
const NOTES_SERVER_COMMAND = resolve(ROOT, 'examples/notes-server/dist/main.js')
const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 5_000
const BUILD_PROJECTS = ['packages/dev-idp', 'examples/notes-server']
const BUILD_TICK_MS = 15_000

/** Ends the launcher with one line on stderr, never a stack trace. */
function fail(message) {
  process.stderr.write(`portcullis demo: ${message}\n`)
  process.exit(1)
}

function portFrom(name, fallback) {
  const value = process.env[name]
  if (value === undefined || value === '') return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    fail(`${name} must be a port number from 1 to 65535, got ${JSON.stringify(value)}`)
  }
  return Number(value)
}

/** Resolves when `port` can be bound on HOST, rejects with the listen error otherwise. */
function probePort(port) {
  return new Promise((done, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, HOST, () => server.close(() => done()))
  })
}

async function checkPortFree(port, what, variable) {
  try {
    await probePort(port)
  } catch (error) {
    const reason =
      error.code === 'EADDRINUSE'
        ? 'is already in use (another demo still running?)'
        : error.code === 'EACCES'
          ? 'needs privileges to listen on'
          : `cannot be used (${error.code ?? error.message})`
    fail(
      `port ${port} on ${HOST} for the ${what} ${reason}. Stop what uses it, or pick another port: ${variable}=<port> pnpm start`,
    )
  }
}

/**
 * `tsc -b` of the two projects the demo runs, saying what it does while it does it: the first
 * compile of the workspace takes about a minute, later ones a few seconds.
 */
async function build() {
  const tsc = resolve(ROOT, 'node_modules/typescript/bin/tsc')
  if (!existsSync(tsc)) fail(`${tsc} is missing: install the workspace first (npx -y pnpm@10 install)`)
  const started = Date.now()
  process.stdout.write(
    `portcullis demo: compiling ${BUILD_PROJECTS.join(' and ')} (tsc -b; about a minute the first time, seconds after)\n`,
  )
  const ticker = setInterval(() => {
    process.stdout.write(
      `portcullis demo: still compiling (${Math.round((Date.now() - started) / 1000)} s)\n`,
    )
  }, BUILD_TICK_MS)
  const output = []
  const code = await new Promise((done) => {
    const child = spawn(process.execPath, [tsc, '-b', ...BUILD_PROJECTS], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout.on('data', (chunk) => output.push(chunk))
    child.stderr.on('data', (chunk) => output.push(chunk))
    child.once('error', (error) => {
      output.push(Buffer.from(error.message))
      done(1)
    })
    child.once('close', (exitCode) => done(exitCode))
  })
  clearInterval(ticker)
  if (code !== 0) {
    process.stderr.write(Buffer.concat(output))
    fail(`the compile failed (tsc -b ${BUILD_PROJECTS.join(' ')} exited with ${code})`)
  }
  process.stdout.write(`portcullis demo: compiled in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}

await build()
if (process.argv.includes('--build-only')) process.exit(0)
for (const command of [DEV_IDP_COMMAND, NOTES_SERVER_COMMAND]) {
  if (!existsSync(command)) fail(`${command} is missing after the compile`)
}
// The former GATEHOUSE_* names still work for one release (the notes example owns the rule).
const { withLegacyEnv } = await import(resolve(ROOT, 'examples/notes-server/dist/legacy-env.js'))
process.env = withLegacyEnv(process.env, (message) => process.stderr.write(`portcullis demo: ${message}\n`))
const mcpPort = portFrom('PORTCULLIS_DEMO_MCP_PORT', 3000)
const idpPort = portFrom('PORTCULLIS_DEMO_IDP_PORT', 4000)
const keysFile = resolve(ROOT, process.env.PORTCULLIS_DEMO_KEYS_FILE || '.dev-idp-keys.json')
const sdk = process.env.PORTCULLIS_SDK || 'v2'
if (sdk !== 'v1' && sdk !== 'v2') fail(`PORTCULLIS_SDK must be v1 or v2, got ${JSON.stringify(sdk)}`)
if (mcpPort === idpPort) fail(`the MCP server and the dev IdP need two ports, both are ${mcpPort}`)
await checkPortFree(idpPort, 'dev IdP', 'PORTCULLIS_DEMO_IDP_PORT')
await checkPortFree(mcpPort, 'MCP server', 'PORTCULLIS_DEMO_MCP_PORT')

const issuer = `http://${HOST}:${idpPort}`
const resource = `http://${HOST}:${mcpPort}/mcp`

/**
 * A child process whose output is held back until the demo is ready, then printed with a prefix.
 * Detached (its own process group): Ctrl-C reaches the launcher only, which stops the children in
 * order, so a child ending early always means something went wrong.
 */
function startChild(label, args, env, format) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    windowsHide: true,
  })
  const held = []
  const state = { child, label, live: false, exited: false, code: null, signal: null, held }
  const onLine = (line) => {
    if (!state.live) {
      if (held.length < 200) held.push(line)
      return
    }
    const shown = format(line)
    if (shown !== undefined) process.stdout.write(`[${label}] ${shown}\n`)
  }
  createInterface({ input: child.stdout }).on('line', onLine)
  createInterface({ input: child.stderr }).on('line', onLine)
  // 'close' comes after the output streams end, so every line is in `held` by then.
  state.exit = new Promise((done) => {
    child.once('close', (code, signal) => {
      state.exited = true
      state.code = code
      state.signal = signal
      done()
    })
  })
  state.exit.then(() => giveUp(state, `the ${label} stopped (${signal(state)})`))
  child.once('error', (error) => fail(`could not start the ${label}: ${error.message}`))
  return state
}

const signal = (state) => (state.signal ? `signal ${state.signal}` : `exit code ${state.code}`)

// The notes server logs JSON lines (pino); show one line per request: method, path, status, time.
const openRequests = new Map()
function formatNotesLog(line) {
  let entry
  try {
    entry = JSON.parse(line)
  } catch {
    return line
  }
  if (entry.msg === 'incoming request') {
    if (openRequests.size > 1000) openRequests.delete(openRequests.keys().next().value)
    openRequests.set(entry.reqId, `${entry.req?.method ?? '?'} ${entry.req?.url ?? '?'}`)
    return undefined
  }
  if (entry.msg === 'request completed') {
    const request = openRequests.get(entry.reqId)
    // Requests that began before the demo was ready (its own readiness checks) are not shown.
    if (request === undefined) return undefined
    openRequests.delete(entry.reqId)
    return `${request} -> ${entry.res?.statusCode} (${Math.round(entry.responseTime ?? 0)} ms)`
  }
  if (typeof entry.reason === 'string') {
    // Portcullis's rejection record: the reason, the missing scopes, never the token.
    const missing = Array.isArray(entry.missingScopes) ? `, missing ${entry.missingScopes.join(' ')}` : ''
    return `${entry.msg}: ${entry.reason}${missing}`
  }
  if (typeof entry.msg !== 'string') return line
  return entry.err?.message ? `${entry.msg}: ${entry.err.message}` : entry.msg
}

const children = []
let stopping = false

async function stopAll(exitCode) {
  if (stopping) return
  stopping = true
  for (const state of children) if (!state.exited) state.child.kill('SIGTERM')
  const timer = setTimeout(() => {
    for (const state of children) if (!state.exited) state.child.kill('SIGKILL')
  }, STOP_TIMEOUT_MS)
  await Promise.all(children.map((state) => state.exit))
  clearTimeout(timer)
  if (exitCode === 0) process.stdout.write('portcullis demo: stopped\n')
  process.exit(exitCode)
}

/** Says why the demo cannot go on, with what the child printed, and stops everything. */
function giveUp(state, reason) {
  if (stopping) return
  process.stderr.write(`portcullis demo: ${reason}\n`)
  for (const line of state.held) process.stderr.write(`  ${line}\n`)
  stopAll(1)
}

process.on('SIGINT', () => stopAll(0))
process.on('SIGTERM', () => stopAll(0))
process.on('SIGHUP', () => stopAll(0))

/** Polls `url` until it answers 200; gives up when the child exits or time runs out. */
async function waitUntilAnswering(url, state) {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline && !state.exited) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) })
      await response.body?.cancel()
      if (response.ok) return
    } catch {
      // Not listening yet.
    }
    await new Promise((done) => setTimeout(done, 100))
  }
  if (!state.exited)
    giveUp(state, `the ${state.label} did not answer ${url} within ${READY_TIMEOUT_MS / 1000} s`)
  // stopAll ends the process once the children are gone.
  await new Promise(() => {})
}

const idp = startChild(
  'dev-idp',
  [
    DEV_IDP_COMMAND,
    ...['--port', String(idpPort), '--host', HOST, '--resource', resource, '--login', 'form'],
    ...['--keys-file', keysFile],
  ],
  {},
  (line) => line,
)
children.push(idp)
await waitUntilAnswering(`${issuer}/.well-known/oauth-authorization-server`, idp)

const notes = startChild(
  'notes',
  [NOTES_SERVER_COMMAND],
  {
    PORT: String(mcpPort),
    HOST,
    PORTCULLIS_RESOURCE: resource,
    PORTCULLIS_ISSUER: issuer,
    PORTCULLIS_SDK: sdk,
    // Clients that bind their tokens to a key (RFC 9449: the 2.x SDK's dpop(), mcp-remote) work too.
    PORTCULLIS_DPOP: process.env.PORTCULLIS_DPOP || 'allowed',
  },
  formatNotesLog,
)
children.push(notes)
await waitUntilAnswering(`http://${HOST}:${mcpPort}/.well-known/oauth-protected-resource/mcp`, notes)

// The dev IdP keeps the machine client's secret in its key file (format portcullis-dev-idp/1).
let machineSecret
try {
  const keys = JSON.parse(readFileSync(keysFile, 'utf8'))
  machineSecret = keys.format === 'portcullis-dev-idp/1' ? keys.clientSecrets?.machine : undefined
} catch {
  machineSecret = undefined
}
if (typeof machineSecret !== 'string') {
  giveUp(idp, `no machine client secret in ${keysFile}`)
  await new Promise(() => {})
}

const json = (value) => `'${JSON.stringify(value)}'`
const mcpHeaders = `-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'`
const whoami = json({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {} },
})
const tokenCommand = `TOKEN=$(curl -s -u 'dev-machine:${machineSecret}' -d grant_type=client_credentials -d scope=notes:read -d resource=${resource} ${issuer}/token | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')`
// The 2.x server answers a lone 2025-era request statelessly; the 1.x server wants a session first.
const mcpCommands =
  sdk === 'v2'
    ? [`curl -s ${resource} ${mcpHeaders} -d ${whoami}`]
    : [
        `SESSION=$(curl -s -D - -o /dev/null ${resource} ${mcpHeaders} -d ${json({
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'curl', version: '1.0.0' },
          },
        })} | tr -d '\\r' | awk -F': ' 'tolower($1)=="mcp-session-id" {print $2}')`,
        `curl -s ${resource} ${mcpHeaders} -H "Mcp-Session-Id: $SESSION" -H 'Mcp-Protocol-Version: 2025-06-18' -d ${whoami}`,
      ]
const commands = [tokenCommand, ...mcpCommands].map((command) => `  ${command}`).join('\n')

// The users and what their roles let them obtain, as the dev IdP process printed them.
const usersStart = idp.held.findIndex((line) => line.startsWith('Users ('))
const userLines = []
for (const line of usersStart === -1 ? [] : idp.held.slice(usersStart + 1)) {
  if (line.trim() === '') break
  userLines.push(line)
}
if (userLines.length === 0) {
  giveUp(idp, 'the dev IdP did not print its users')
  await new Promise(() => {})
}
const allScopes = 'notes:read notes:write notes:admin'

const banner = `
Portcullis demo: an MCP server protected by OAuth 2.1, and its authorization server

  MCP server          ${resource}   (notes tools, MCP SDK ${sdk})
  authorization       ${issuer}   (dev IdP with a sign-in form; ${issuer}/.well-known/openid-configuration)

Connect with MCP Inspector (2.x)
  npx @modelcontextprotocol/inspector
  1. In the page it opens: Add server, transport streamable-http, URL ${resource}.
  2. Connect. The browser goes to the dev IdP: type a user name below (no password) and allow.
  3. To ask for more than notes:read at once, set the scopes in the server's OAuth settings,
     e.g. "${allScopes}".

Users (sign-in form; roles decide what each may be granted of what a client asks for)
${userLines.join('\n')}
  Any other name signs in with no role and is refused notes scopes (invalid_scope).

Tools and scopes
  whoami answers any valid token; list_notes needs notes:read, add_note notes:write, clear_notes
  notes:admin; without them the server answers 403 insufficient_scope naming the scope to ask for.
  notes:admin includes notes:write, which includes notes:read. A client that asks for more than
  the user may have gets the allowed part (bob asking for all three gets notes:read).

A machine token (client credentials) and whoami, with curl:
${commands}

Requests are logged below. Ctrl-C stops both (dev IdP pid ${idp.child.pid}, MCP server pid ${notes.child.pid}).
`
process.stdout.write(banner)
idp.live = true
notes.live = true
