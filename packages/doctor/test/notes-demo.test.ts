// The doctor against the notes example behind the dev IdP (the `pnpm start` demo): everything
// passes, with and without a token; a token for another resource, an expired check and a 403
// step-up are named; the command prints the checklist and exits by the result.
import { runCommand } from '@portcullis/doctor'
import t from 'tap'
import { doctor } from '../src/doctor.js'
import { startNotesStack } from './fixtures/stack.js'

const stack = await startNotesStack()
t.teardown(stack.close)

const failed = (report: Awaited<ReturnType<typeof doctor>>) =>
  report.checks.filter((c) => c.status !== 'pass' && c.status !== 'skip').map((c) => `${c.id}: ${c.message}`)

t.test('the demo passes every check without a token', async (t) => {
  const report = await doctor(stack.url)
  t.same(failed(report), [])
  t.ok(report.ok)
  t.equal(report.version, 1)
  const ids = report.checks.map((c) => c.id)
  for (const id of [
    'challenge.status',
    'challenge.resource_metadata',
    'challenge.scope',
    'challenge.no_error',
    'metadata.path_aware',
    'metadata.resource',
    'cors.metadata',
    'cors.preflight',
    'cors.challenge',
    'as.metadata',
    'as.pkce',
    'as.registration',
    'as.iss_parameter',
    'as.jwks',
  ]) {
    t.ok(ids.includes(id), id)
  }
})

t.test(
  'an origin the server refuses (DNS rebinding protection) is named, with the status it got',
  async (t) => {
    const report = await doctor(stack.url, { browserOrigin: 'https://elsewhere.example' })
    const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
    t.equal(byId['cors.preflight']?.status, 'fail')
    t.match(
      byId['cors.challenge']?.message,
      /from https:\/\/elsewhere\.example got HTTP 403 instead of the 401/,
    )
    t.notOk(report.ok)
  },
)

t.test('a good token: claims, tools/list, and the token is never in the report', async (t) => {
  const { access_token } = await stack.idp.userToken({ resource: stack.url, scope: 'notes:read notes:write' })
  const report = await doctor(stack.url, { token: access_token })
  t.same(failed(report), [])
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
  t.equal(byId['token.audience']?.status, 'pass')
  t.equal(byId['token.typ']?.status, 'pass')
  t.match(byId['token.expiry']?.message, /^expires in \d+ s$/)
  t.match(byId['token.tools_list']?.message, /whoami/)
  t.match(report.tokenFingerprint, /^[A-Za-z0-9_-]{16}$/)
  t.notOk(JSON.stringify(report).includes(access_token))
})

t.test('a token for another resource is named by its audience', async (t) => {
  const other = 'http://127.0.0.1:1/elsewhere'
  stack.idp.addResource({ resource: other, scopes: ['notes:read'] })
  const { access_token } = await stack.idp.userToken({ resource: other, scope: 'notes:read' })
  const report = await doctor(stack.url, { token: access_token })
  const ids = report.checks.filter((c) => c.status === 'fail').map((c) => c.id)
  t.same(ids, ['token.audience', 'token.tools_list'])
  t.match(
    report.checks.find((c) => c.id === 'token.audience')?.fix,
    /resource=http:\/\/127\.0\.0\.1:\d+\/mcp/,
  )
  t.notOk(report.ok)
})

t.test('a token whose scopes the resource does not advertise: a warning says why', async (t) => {
  const { access_token } = await stack.idp.userToken({ resource: stack.url, scope: 'reports:read' })
  const report = await doctor(stack.url, { token: access_token })
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
  t.equal(byId['token.scopes']?.status, 'warn')
  t.match(byId['token.scopes']?.message, /none of the token's scopes \(reports:read\) is in scopes_supported/)
  // Which tools are listed is the server's listing policy; the call itself succeeds.
  t.equal(byId['token.tools_list']?.status, 'pass')
  t.match(byId['token.tools_list']?.message, /whoami/)
  t.ok(report.ok, 'warnings alone do not fail')
})

t.test('the command prints the checklist, never the token, and exits 0 or 1', async (t) => {
  const { access_token } = await stack.idp.userToken({ resource: stack.url, scope: 'notes:read' })
  let out = ''
  const io = { out: (text: string) => (out += `${text}\n`), error: (text: string) => (out += `${text}\n`) }
  t.equal(await runCommand(['doctor', stack.url, '--token', access_token], io), 0)
  t.match(out, /^portcullis doctor http:\/\/127\.0\.0\.1:\d+\/mcp\ntoken fingerprint /)
  t.match(out, /0 failed, 0 warning\(s\), \d+ passed/)
  t.notOk(out.includes(access_token))
  t.comment(out)

  out = ''
  t.equal(
    await runCommand(['doctor', stack.url, '--json', '--browser-origin', 'http://localhost:5173'], io),
    0,
  )
  const json = JSON.parse(out)
  t.equal(json.browserOrigin, 'http://localhost:5173')
  t.equal(json.ok, true)

  out = ''
  t.equal(await runCommand(['doctor', 'http://127.0.0.1:1/mcp', '--timeout', '2000'], io), 1)
  t.match(out, /FAIL {2}no answer/)

  out = ''
  t.equal(await runCommand(['doctor', stack.url, '--json'], io, { PORTCULLIS_DOCTOR_TOKEN: access_token }), 0)
  t.match(JSON.parse(out).checks.at(-1), { id: 'token.tools_list', status: 'pass' })
  t.notOk(out.includes(access_token))

  t.equal(await runCommand(['doctor'], io), 2)
  t.equal(await runCommand(['doctor', stack.url, '--bogus'], io), 2)
  t.equal(await runCommand(['lint'], io), 2)
  t.equal(await runCommand(['doctor', stack.url, '--timeout', 'soon'], io), 2)
})

t.test(
  '--call: a tool the token may call is answered; one it may not names the scope to ask for',
  async (t) => {
    const { access_token } = await stack.idp.userToken({ resource: stack.url, scope: 'notes:read' })
    const allowed = await doctor(stack.url, { token: access_token, callTool: 'list_notes' })
    const call = (report: typeof allowed) => report.checks.find((c) => c.id === 'token.tool_call')
    t.match(call(allowed), { status: 'pass', message: 'tools/call "list_notes" answered' })

    // notes:read alone: add_note needs notes:write, and the 403 says so (MCP step-up).
    const stepUp = await doctor(stack.url, { token: access_token, callTool: 'add_note' })
    t.match(call(stepUp), {
      status: 'pass',
      message:
        /^tools\/call "add_note" refused with 403 insufficient_scope; the challenge asks for scope "notes:write/,
    })
    t.equal(stepUp.ok, true, 'a correct step-up challenge is a pass')

    const unknown = await doctor(stack.url, { token: access_token, callTool: 'no_such_tool' })
    t.match(call(unknown), {
      status: 'warn',
      message: 'tools/list does not name "no_such_tool" for this token',
    })
    t.equal(
      unknown.checks.filter((c) => c.id === 'token.tool_call').length,
      2,
      "then the server's answer to it, whatever it is",
    )
    t.notOk(JSON.stringify([allowed, stepUp, unknown]).includes(access_token))

    await t.rejects(
      doctor(stack.url, { token: access_token, callTool: '' }),
      /option "callTool": must be a tool name/,
    )
    let out = ''
    const io = { out: (text: string) => (out += `${text}\n`), error: (text: string) => (out += `${text}\n`) }
    t.equal(await runCommand(['doctor', stack.url, '--call', 'whoami'], io), 2, '--call without a token')
    t.match(out, /--call needs a token/)
    out = ''
    t.equal(await runCommand(['doctor', stack.url, '--token', access_token, '--call', 'add_note'], io), 0)
    t.match(out, /ok {4}tools\/call "add_note" refused with 403 insufficient_scope/)
  },
)
