// `pnpm start:broker` as a user meets it: the build half of the script, then the launcher on free
// ports; the banner, the broker as the only authorization server, a sign-in that reaches the dev
// IdP's form through the broker, and a clean stop on SIGINT.
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CookieJar } from '@portcullis/dev-idp'
import t from 'tap'
import { freePort } from './fixtures/journey-stack.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { scripts } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
}
const [buildCommand, launchCommand, ...more] = (scripts['start:broker'] ?? '').split(' && ')

t.test('start:broker builds, runs, prints what to do, and stops on Ctrl-C', async (t) => {
  t.same(more, [])
  t.equal(launchCommand, 'node scripts/demo-broker.mjs')
  const [tsc, ...args] = buildCommand!.split(' ')
  await promisify(execFile)(join(ROOT, 'node_modules/.bin', tsc!), args, { cwd: ROOT, timeout: 180_000 })

  const dir = await mkdtemp(join(tmpdir(), 'broker-demo-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const [mcpPort, idpPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, [join(ROOT, 'scripts/demo-broker.mjs')], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORTCULLIS_DEMO_MCP_PORT: String(mcpPort),
      PORTCULLIS_DEMO_IDP_PORT: String(idpPort),
      PORTCULLIS_DEMO_KEYS_FILE: join(dir, 'keys.json'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const deadline = Date.now() + 60_000
  while (!stdout.includes('Press Ctrl-C to stop.') && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 100))
  }
  const origin = `http://127.0.0.1:${mcpPort}`
  t.match(stdout, `MCP server            ${origin}/mcp`)
  t.match(stdout, `upstream IdP          http://localhost:${idpPort}`)
  t.match(stdout, /npx @modelcontextprotocol\/inspector/)
  t.match(stdout, `readiness             ${origin}/health`)
  const health = await fetch(`${origin}/health`)
  t.equal(health.status, 200, 'the demo is ready')
  t.match(await health.json(), { ready: true, authorizationServer: { status: 'ok' } })

  const prm = (await (await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)).json()) as {
    authorization_servers: string[]
  }
  t.same(prm.authorization_servers, [origin], 'the broker is the only authorization server')
  // A client registers with the broker and is sent, through it, to the dev IdP's sign-in form.
  const registered = (await (
    await fetch(`${origin}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }),
    })
  ).json()) as { client_id: string }
  let url = new URL(`${origin}/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: registered.client_id,
    redirect_uri: 'http://127.0.0.1:9/cb',
    resource: `${origin}/mcp`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString()
  const jar = new CookieJar()
  let response: Response
  for (;;) {
    const cookie = jar.header(url)
    response = await fetch(url, { redirect: 'manual', headers: cookie === undefined ? {} : { cookie } })
    jar.store(url, response.headers.getSetCookie())
    const location = response.headers.get('location')
    if (location === null) break
    url = new URL(location, url)
  }
  t.equal(url.origin, `http://localhost:${idpPort}`, 'the sign-in page is the upstream’s')
  t.match(await response.text(), /<form/, 'a sign-in form')

  child.kill('SIGINT')
  t.equal(await exited, 0, 'stops cleanly')
  t.match(stdout, /stopped/)
})
