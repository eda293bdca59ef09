import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { startDevIdp } from '@portcullis/dev-idp'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { parseCommandLine, runCommand } from '../src/command.js'
import { freePort } from './fixtures/http.js'

const RESOURCE = 'http://127.0.0.1:3000/mcp'

function capture() {
  const out: string[] = []
  const error: string[] = []
  return { out, error, output: { out: (s: string) => out.push(s), error: (s: string) => error.push(s) } }
}

t.test('a key file keeps signing keys and client secrets across restarts', async (t) => {
  const keysFile = join(t.testdir(), 'keys.json')
  const port = await freePort()
  const options = { port, keysFile, resources: [{ resource: RESOURCE }] }

  const first = await startDevIdp(options)
  const { access_token } = await first.userToken({ user: 'alice' })
  const firstClients = first.clients
  await first.close()

  t.equal((await stat(keysFile)).mode & 0o777, 0o600, 'private keys readable by the owner only')
  const saved = JSON.parse(await readFile(keysFile, 'utf8'))
  t.equal(saved.format, 'portcullis-dev-idp/1')
  t.equal(saved.keys.length, 2)

  const second = await startDevIdp(options)
  t.teardown(second.close)
  t.equal(second.issuer, `http://127.0.0.1:${port}`)
  t.same(second.clients, firstClients, 'same client secrets')
  // The token issued before the restart still verifies against the new process's JWKS.
  const { payload } = await jwtVerify(access_token, createRemoteJWKSet(new URL(second.endpoints.jwks)), {
    issuer: second.issuer,
    audience: RESOURCE,
  })
  t.equal(payload.sub, 'alice')
  const machine = await second.machineToken()
  t.type(machine.access_token, 'string', 'the kept machine secret still works')
})

t.test('without a key file every start has new keys', async (t) => {
  const a = await startDevIdp()
  t.teardown(a.close)
  const b = await startDevIdp()
  t.teardown(b.close)
  const kids = async (url: string) =>
    ((await (await fetch(url)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
  const [ka, kb] = [await kids(a.endpoints.jwks), await kids(b.endpoints.jwks)]
  t.notOk(
    ka.some((kid) => kb.includes(kid)),
    'no shared key',
  )
  t.not(a.clients.machine.client_secret, b.clients.machine.client_secret)
})

t.test('a broken key file is a clear error', async (t) => {
  const dir = t.testdir({
    'bad.json': '{ not json',
    'other.json': JSON.stringify({ format: 'something else' }),
  })
  await t.rejects(startDevIdp({ keysFile: join(dir, 'bad.json') }), /bad\.json is not JSON; delete it/)
  await t.rejects(startDevIdp({ keysFile: join(dir, 'other.json') }), /other\.json is not a dev-idp key file/)
  const { output, error } = capture()
  const result = await runCommand(['--port', '0', '--keys-file', join(dir, 'bad.json')], output)
  t.equal(result.exitCode, 1)
  t.equal(error.length, 1)
  t.notMatch(error[0], /\n/, 'one line')
})

t.test('the command prints what to configure and keeps tokens valid across restarts', async (t) => {
  const keysFile = join(t.testdir(), '.dev-idp-keys.json')
  const port = await freePort()
  const argv = ['--port', String(port), '--keys-file', keysFile, '--login', 'auto', '--resource', RESOURCE]

  const first = capture()
  const run1 = await runCommand(argv, first.output)
  t.equal(run1.exitCode, 0)
  const idp1 = run1.idp!
  const banner = first.out.join('\n')
  const issuer = `http://127.0.0.1:${port}`
  t.match(banner, issuer)
  t.match(banner, `${issuer}/.well-known/openid-configuration`)
  t.match(banner, `${issuer}/.well-known/oauth-authorization-server`)
  t.match(
    banner,
    `client_id=${idp1.clients.machine.client_id} client_secret=${idp1.clients.machine.client_secret}`,
  )
  t.match(banner, `client_id=${idp1.clients.resourceServer.client_id}`)
  t.match(banner, JSON.stringify({ resource: RESOURCE, authorization_servers: [issuer] }))
  t.match(banner, keysFile)
  const { access_token } = await idp1.userToken()
  t.notMatch(banner, access_token, 'never a token')
  await idp1.close()

  const second = capture()
  const run2 = await runCommand(argv, second.output)
  t.teardown(() => run2.idp?.close())
  t.same(run2.idp?.clients, idp1.clients)
  const { payload } = await jwtVerify(access_token, createRemoteJWKSet(new URL(run2.idp!.endpoints.jwks)), {
    issuer,
    audience: RESOURCE,
  })
  t.equal(payload.iss, issuer)
})

t.test('a port in use is one clear line, from the API and from the command', async (t) => {
  const busy = await startDevIdp()
  t.teardown(busy.close)
  await t.rejects(startDevIdp({ port: busy.port }), {
    message: `dev-idp: port ${busy.port} on 127.0.0.1 is already in use; stop the other process or pick another port`,
    code: 'EADDRINUSE',
  })
  const { output, error, out } = capture()
  const result = await runCommand(
    ['--port', String(busy.port), '--keys-file', join(t.testdir(), 'k.json')],
    output,
  )
  t.equal(result.exitCode, 1)
  t.equal(result.idp, undefined)
  t.same(error, [
    `dev-idp: port ${busy.port} on 127.0.0.1 is already in use; stop the other process or pick another port`,
  ])
  t.same(out, [])
})

t.test('command-line flags map to options; bad flags are usage errors', async (t) => {
  t.same(parseCommandLine([]), {
    help: false,
    options: { port: 4000, login: 'form', keysFile: '.dev-idp-keys.json', quiet: true },
  })
  const parsed = parseCommandLine([
    '--port=4455',
    '--shape',
    'keycloak',
    '--realm',
    'acme',
    '--resource',
    'http://localhost:3000/mcp',
    '--opaque-resource',
    'http://localhost:3001/mcp',
    '--scopes',
    'a:read  a:write',
    '--access-token-ttl',
    '60',
  ])
  t.same(parsed, {
    help: false,
    options: {
      port: 4455,
      login: 'form',
      keysFile: '.dev-idp-keys.json',
      quiet: true,
      shape: 'keycloak',
      realm: 'acme',
      accessTokenTtl: 60,
      resources: [
        { resource: 'http://localhost:3000/mcp', format: 'jwt', scopes: ['a:read', 'a:write'] },
        { resource: 'http://localhost:3001/mcp', format: 'opaque', scopes: ['a:read', 'a:write'] },
      ],
    },
  })
  t.same(parseCommandLine(['-h']), { help: true })
  t.throws(() => parseCommandLine(['--port', 'abc']), /--port must be a whole number/)

  const help = capture()
  t.equal((await runCommand(['--help'], help.output)).exitCode, 0)
  t.match(help.out.join(''), /Usage: dev-idp/)
  const bad = capture()
  t.equal((await runCommand(['--nope'], bad.output)).exitCode, 2)
  t.match(bad.error[0], /^dev-idp: Unknown option '--nope'/)
  const invalid = capture()
  t.equal((await runCommand(['--shape', 'okta', '--port', '0'], invalid.output)).exitCode, 2)
  t.match(invalid.error[0], /^dev-idp: option "shape"/)
})
