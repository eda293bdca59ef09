// `pnpm start` as a user meets it: the launcher compiles first (saying so), then runs on free
// ports; the test waits for the banner, runs the printed curl commands as printed, repeats their
// flow with fetch, signs in as each user the banner names and checks they get what it says,
// checks what MCP Inspector needs from a browser, and stops the demo with SIGINT.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DpopSession } from '@modelcontextprotocol/client'
import { parseChallenges } from '@portcullis/core'
import t from 'tap'
import { freePort } from './fixtures/journey-stack.js'

// The launcher compiles two projects before anything else (about two minutes on a loaded machine).
t.setTimeout(600_000)

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const run = promisify(execFile)
const INSPECTOR_ORIGIN = 'http://localhost:6274'

const { scripts } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
}
const COMPILING =
  /^portcullis demo: compiling packages\/dev-idp and examples\/notes-server \(tsc -b; about a minute the first time, seconds after\)\n(portcullis demo: still compiling \(\d+ s\)\n)*portcullis demo: compiled in \d+\.\d s\n/

t.test('the start script is the launcher, which says that it compiles and how long it took', async (t) => {
  t.equal(scripts.start, 'node scripts/demo.mjs')
  // The compile `pnpm start` begins with, so the launcher runs the code in this working tree.
  const { stdout } = await run(process.execPath, [join(ROOT, 'scripts/demo.mjs'), '--build-only'], {
    cwd: ROOT,
    timeout: 240_000,
  })
  t.match(stdout, COMPILING)
})

interface Demo {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

function launch(env: Record<string, string>): Demo {
  const child = spawn(process.execPath, [join(ROOT, 'scripts/demo.mjs')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)))
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** Resolves once `stdout` matches, rejects when the launcher exits first or time runs out. */
async function waitFor(demo: Demo, pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  demo.exited.then(() => {
    exited = true
  })
  while (Date.now() < deadline) {
    const match = demo.stdout().match(pattern)
    if (match) return match
    if (exited) throw new Error(`the launcher exited:\n${demo.stdout()}\n${demo.stderr()}`)
    await new Promise((done) => setTimeout(done, 50))
  }
  throw new Error(`no ${pattern} in the launcher's output:\n${demo.stdout()}\n${demo.stderr()}`)
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The JSON-RPC message of a Streamable HTTP answer: a JSON body or the `data:` of one SSE event. */
function rpcMessage(body: string): { result?: { structuredContent?: unknown }; error?: unknown } {
  const data = body.split('\n').find((line) => line.startsWith('data: '))
  return JSON.parse(data === undefined ? body : data.slice('data: '.length))
}

/**
 * What a person does in the browser Inspector opens: the authorization request of the demo's public
 * client, the sign-in form posted with `user`, the redirects followed, the code exchanged.
 */
async function signInThroughForm(issuer: string, resource: string, scope: string, user: string) {
  const redirectUri = 'http://127.0.0.1:9/callback'
  const verifier = 'v'.repeat(43)
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const cookies = new Map<string, string>()
  const go = async (url: URL, init: RequestInit = {}) => {
    const headers = new Headers(init.headers)
    headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const c of response.headers.getSetCookie()) {
      const [pair = ''] = c.split(';')
      const at = pair.indexOf('=')
      if (at > 0) cookies.set(pair.slice(0, at), pair.slice(at + 1))
    }
    const location = response.headers.get('location')
    return { response, location: location === null ? undefined : new URL(location, url) }
  }
  const start = new URL(`${issuer}/authorize`)
  start.search = new URLSearchParams({
    response_type: 'code',
    client_id: 'dev-public',
    redirect_uri: redirectUri,
    scope,
    resource,
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()
  const interaction = (await go(start)).location!
  let step = await go(interaction, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login: user }),
  })
  for (let hops = 0; step.location && !step.location.href.startsWith(redirectUri) && hops < 10; hops++) {
    step = await go(step.location)
  }
  const params = step.location?.searchParams
  const code = params?.get('code')
  if (!code) return { error: params?.get('error') ?? 'no redirect to the client', scope: undefined }
  const token = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id: 'dev-public',
    }),
  })
  const body = (await token.json()) as { scope?: string; error?: string }
  return { error: body.error, scope: body.scope }
}

for (const sdk of ['v2', 'v1'] as const) {
  t.test(`the demo on the ${sdk} MCP SDK: banner, printed commands, Ctrl-C`, async (t) => {
    const directory = await mkdtemp(join(tmpdir(), 'portcullis-demo-'))
    t.teardown(() => rm(directory, { recursive: true, force: true }))
    const [mcpPort, idpPort] = [await freePort(), await freePort()]
    const demo = launch({
      PORTCULLIS_DEMO_MCP_PORT: String(mcpPort),
      PORTCULLIS_DEMO_IDP_PORT: String(idpPort),
      PORTCULLIS_DEMO_KEYS_FILE: join(directory, 'keys.json'),
      PORTCULLIS_SDK: sdk,
    })
    t.teardown(() => {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL')
    })
    const [, idpPid, mcpPid] = await waitFor(
      demo,
      /Ctrl-C stops both \(dev IdP pid (\d+), MCP server pid (\d+)\)/,
    )
    const banner = demo.stdout()
    const resource = `http://127.0.0.1:${mcpPort}/mcp`
    const issuer = `http://127.0.0.1:${idpPort}`

    t.match(banner, COMPILING, 'the compile is announced first')
    t.match(banner, `MCP server          ${resource}   (notes tools, MCP SDK ${sdk})`)
    t.match(banner, `authorization       ${issuer}`)
    t.notMatch(banner, /eyJ[\w-]+\.[\w-]+\./, 'no token in the banner')

    // The Inspector 2.x steps, against what the demo serves.
    t.match(banner, 'Connect with MCP Inspector (2.x)\n  npx @modelcontextprotocol/inspector\n')
    t.match(banner, `Add server, transport streamable-http, URL ${resource}.`)
    const askedScopes = /set the scopes in the server's OAuth settings,\n\s+e\.g\. "([^"]+)"/.exec(
      banner,
    )?.[1]
    const asMetadata = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as {
      scopes_supported: string[]
    }
    t.same(
      askedScopes?.split(' '),
      asMetadata.scopes_supported.filter((scope) => scope.startsWith('notes:')),
      'the scopes to set are the notes scopes the dev IdP advertises',
    )
    const served = await fetch(`http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`)
    const servedScopes = ((await served.json()) as { scopes_supported?: string[] }).scopes_supported ?? []
    t.ok(servedScopes.length > 0, 'the MCP server names scopes')
    t.ok(
      servedScopes.every((scope) => askedScopes?.split(' ').includes(scope)),
      "and the MCP server's scopes are among them",
    )

    // Each user the banner names gets exactly what it says when a client asks for every scope.
    const users = [...banner.matchAll(/^ {2}(\w+) +roles ([^\n]*?) -> ([^\n]+)$/gm)].map((m) => ({
      user: m[1]!,
      scopes: m[3]!,
    }))
    t.same(
      users.map((u) => u.user),
      ['alice', 'bob', 'carol'],
      'an admin, a reader and a user without a notes role',
    )
    for (const { user, scopes } of [...users, { user: 'stranger', scopes: 'nothing (invalid_scope)' }]) {
      const answer = await signInThroughForm(issuer, resource, askedScopes!, user)
      if (scopes === 'nothing (invalid_scope)') t.equal(answer.error, 'invalid_scope', `${user} is refused`)
      else t.equal(answer.scope, scopes, `${user} gets ${scopes}`)
    }
    t.match(banner, 'Any other name signs in with no role and is refused notes scopes (invalid_scope).')

    // The printed commands, run as printed.
    const block = banner.split('with curl:\n')[1]!.split('\n\n')[0]!
    const commands = block
      .split('\n')
      .map((line) => line.replace(/^ {2}/, ''))
      .join('\n')
    t.equal(commands.split('\n').length, sdk === 'v2' ? 2 : 3, 'a token command and the MCP requests')
    const { stdout: shellOutput } = await run('sh', ['-e', '-c', commands], { timeout: 20_000 })
    t.same(
      rpcMessage(shellOutput).result?.structuredContent,
      {
        sub: 'dev-machine',
        client: 'dev-machine',
        scopes: ['notes:read'],
      },
      'whoami answers for the machine client',
    )
    await waitFor(demo, /\[notes\] POST \/mcp -> 200/)

    // The same flow with fetch, from the values the banner printed.
    const credentials = /-u '([^':]+):([^']+)'/.exec(block)
    t.ok(credentials, 'client id and secret are printed')
    t.equal(credentials?.[1], 'dev-machine')
    const secret = JSON.parse(await readFile(join(directory, 'keys.json'), 'utf8')).clientSecrets.machine
    t.equal(credentials?.[2], secret, 'the secret the dev IdP keeps in its key file')
    const tokenResponse = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${credentials?.[1]}:${credentials?.[2]}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', resource }),
    })
    t.equal(tokenResponse.status, 200)
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string }
    const mcp = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(resource, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify(body),
      })
    const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }
    let answer: Response
    if (sdk === 'v2') answer = await mcp(call)
    else {
      const initialized = await mcp({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'test', version: '1.0.0' },
        },
      })
      t.equal(initialized.status, 200)
      await initialized.body?.cancel()
      const session = initialized.headers.get('mcp-session-id')
      t.ok(session, 'a session')
      answer = await mcp(call, { 'mcp-session-id': session!, 'mcp-protocol-version': '2025-06-18' })
    }
    t.equal(answer.status, 200)
    t.same(rpcMessage(await answer.text()).result?.structuredContent, {
      sub: 'dev-machine',
      client: 'dev-machine',
      scopes: ['notes:read'],
    })

    // A client that binds its token to a key (RFC 9449) gets in too: the demo accepts DPoP.
    const session = await DpopSession.create()
    const tokenUrl = `${issuer}/token`
    const bound = await fetch(tokenUrl, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${credentials?.[1]}:${credentials?.[2]}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await session.buildProof({ htm: 'POST', htu: tokenUrl }),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', resource }),
    })
    t.equal(bound.status, 200, 'a DPoP-bound token')
    const boundToken = (await bound.json()) as { access_token: string; token_type: string }
    t.equal(boundToken.token_type, 'DPoP')
    const withProof = async (scheme: string, extra: Record<string, string> = {}) =>
      fetch(resource, {
        method: 'POST',
        headers: {
          authorization: `${scheme} ${boundToken.access_token}`,
          dpop: await session.buildProof({
            htm: 'POST',
            htu: resource,
            accessToken: boundToken.access_token,
          }),
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...extra,
        },
        body: JSON.stringify(sdk === 'v2' ? call : { ...call, method: 'tools/list', params: {} }),
      })
    const asBearer = await withProof('Bearer')
    t.equal(asBearer.status, 401, 'the bound token is refused as a Bearer token')
    await asBearer.body?.cancel()
    const viaDpop = await withProof('DPoP')
    if (sdk === 'v2') {
      t.equal(viaDpop.status, 200, 'and accepted with the DPoP scheme and a proof')
      const jkt = JSON.parse(Buffer.from(boundToken.access_token.split('.')[1]!, 'base64url').toString()).cnf
        ?.jkt
      t.ok(jkt, 'the token is bound to the key (cnf.jkt)')
      t.same(
        rpcMessage(await viaDpop.text()).result?.structuredContent,
        { sub: 'dev-machine', client: 'dev-machine', scopes: ['notes:read'], dpopJkt: jkt },
        'whoami sees the key the caller proved',
      )
    } else {
      // The 1.x server wants a session first: past the gate means the SDK's own 400, not a 401.
      t.not(viaDpop.status, 401, 'and accepted with the DPoP scheme and a proof')
      await viaDpop.body?.cancel()
    }

    // What MCP Inspector does from the browser: the 401, the metadata, the registration preflight.
    const anonymous = await fetch(resource, {
      method: 'POST',
      headers: {
        origin: INSPECTOR_ORIGIN,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ ...call, method: 'initialize', params: {} }),
    })
    t.equal(anonymous.status, 401)
    t.ok(anonymous.headers.get('access-control-allow-origin'), 'CORS on the 401')
    t.match(anonymous.headers.get('access-control-expose-headers'), /WWW-Authenticate/i)
    const challenge = parseChallenges(anonymous.headers.get('www-authenticate')!)[0]!.params
    const metadata = await fetch(challenge.resource_metadata!, { headers: { origin: INSPECTOR_ORIGIN } })
    t.ok(metadata.headers.get('access-control-allow-origin'), 'CORS on the metadata document')
    t.match(await metadata.json(), { resource, authorization_servers: [issuer] })
    const preflight = await fetch(`${issuer}/register`, {
      method: 'OPTIONS',
      headers: {
        origin: INSPECTOR_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    t.equal(
      preflight.headers.get('access-control-allow-origin'),
      INSPECTOR_ORIGIN,
      'registration allows the Inspector origin',
    )

    // Ctrl-C: the launcher stops both servers and exits 0.
    t.ok(isRunning(Number(idpPid)) && isRunning(Number(mcpPid)), 'both servers run')
    demo.child.kill('SIGINT')
    t.equal(await demo.exited, 0, 'the launcher exits 0')
    t.match(demo.stdout(), /portcullis demo: stopped\n$/)
    t.notOk(isRunning(Number(idpPid)), 'the dev IdP process is gone')
    t.notOk(isRunning(Number(mcpPid)), 'the MCP server process is gone')
    for (const port of [mcpPort, idpPort]) {
      const refused = await fetch(`http://127.0.0.1:${port}/`).then(
        () => false,
        () => true,
      )
      t.ok(refused, `nothing listens on ${port} any more`)
    }
    t.equal(demo.stderr(), '', 'nothing on stderr')
  })
}

t.test('a port in use: one clear line, no stack trace, nothing started', async (t) => {
  const [mcpPort, idpPort] = [await freePort(), await freePort()]
  for (const [busy, what, variable] of [
    [mcpPort, 'MCP server', 'PORTCULLIS_DEMO_MCP_PORT'],
    [idpPort, 'dev IdP', 'PORTCULLIS_DEMO_IDP_PORT'],
  ] as const) {
    const blocker = createServer()
    await new Promise<void>((done) => blocker.listen(busy, '127.0.0.1', done))
    const demo = launch({
      PORTCULLIS_DEMO_MCP_PORT: String(mcpPort),
      PORTCULLIS_DEMO_IDP_PORT: String(idpPort),
    })
    t.equal(await demo.exited, 1, `${what} port busy: exit code 1`)
    await new Promise<void>((done) => blocker.close(() => done()))
    t.equal(
      demo.stderr(),
      `portcullis demo: port ${busy} on 127.0.0.1 for the ${what} is already in use (another demo still running?). Stop what uses it, or pick another port: ${variable}=<port> pnpm start\n`,
    )
    t.match(demo.stdout(), new RegExp(`${COMPILING.source}$`), 'only the compile was reported')
  }
})

t.test('a bad port setting is named', async (t) => {
  const demo = launch({ PORTCULLIS_DEMO_MCP_PORT: 'http', PORTCULLIS_DEMO_IDP_PORT: '4000' })
  t.equal(await demo.exited, 1)
  t.equal(
    demo.stderr(),
    'portcullis demo: PORTCULLIS_DEMO_MCP_PORT must be a port number from 1 to 65535, got "http"\n',
  )
})
