// `portcullis doctor` against the broker notes example (its own authorization server in front of
// an upstream IdP), with a token it gets itself through the client credentials grant of the
// broker's machine client: every check passes, and neither the secret nor the token is printed.
import { doctor, runCommand } from '@portcullis/doctor'
import t from 'tap'
import { startBrokerStack } from './fixtures/broker-stack.js'

const MACHINE = { clientId: 'reporting-job', clientSecret: 'reporting-secret-0123456789-0123456789' }

const problems = (report: Awaited<ReturnType<typeof doctor>>) =>
  report.checks.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => `${c.id}: ${c.message}`)

t.test('the broker example passes every check, with a client-credentials token', async (t) => {
  const stack = await startBrokerStack(t)
  const url = stack.url.href

  const anonymous = await doctor(url)
  t.same(problems(anonymous), [], 'no token: the challenge, metadata, CORS and the broker itself')
  t.match(
    anonymous.checks.find((c) => c.id === 'as.metadata')?.message,
    `${stack.origin}: metadata at`,
    'the broker is the authorization server checked',
  )

  const report = await doctor(url, { clientCredentials: MACHINE })
  t.same(problems(report), [])
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
  t.match(byId['token.client_credentials'], {
    status: 'pass',
    message: new RegExp(
      `client "reporting-job" got a token from ${stack.origin}/\\S+ \\(client_secret_basic, expires in \\d+ s\\)`,
    ),
  })
  for (const id of ['token.audience', 'token.typ', 'token.issuer', 'token.expiry', 'token.tools_list']) {
    t.equal(byId[id]?.status, 'pass', id)
  }
  t.match(report.tokenFingerprint, /^[A-Za-z0-9_-]{16}$/)
  t.notOk(JSON.stringify(report).includes(MACHINE.clientSecret), 'the secret is not in the report')
})

t.test('wrong credentials and a wrong token endpoint are named, the secret never', async (t) => {
  const stack = await startBrokerStack(t)
  const wrong = { clientId: MACHINE.clientId, clientSecret: 'not-the-secret-0123456789-0123456789' }
  const report = await doctor(stack.url.href, { clientCredentials: wrong })
  const check = report.checks.find((c) => c.id === 'token.client_credentials')
  t.match(check, {
    status: 'fail',
    message: /refused client "reporting-job" \(client_secret_basic\): HTTP 401 invalid_client/,
  })
  t.match(check?.fix, /PORTCULLIS_DOCTOR_CLIENT_SECRET/)
  t.notOk(
    report.checks.some((c) => c.id === 'token.tools_list'),
    'no token, no token checks',
  )
  t.notOk(report.ok)
  t.notOk(JSON.stringify(report).includes(wrong.clientSecret))

  const lost = await doctor(stack.url.href, {
    clientCredentials: { ...MACHINE, tokenEndpoint: `${stack.origin}/no-such-endpoint` },
  })
  t.match(
    lost.checks.find((c) => c.id === 'token.client_credentials'),
    {
      status: 'fail',
      message: /no-such-endpoint refused client "reporting-job" \(client_secret_basic\): HTTP 404 Not Found/,
    },
  )
})

t.test('the command: --client-id with the secret from the environment only', async (t) => {
  const stack = await startBrokerStack(t)
  const url = stack.url.href
  let out = ''
  const io = { out: (text: string) => (out += `${text}\n`), error: (text: string) => (out += `${text}\n`) }
  const env = { PORTCULLIS_DOCTOR_CLIENT_SECRET: MACHINE.clientSecret }

  t.equal(
    await runCommand(['doctor', url, '--client-id', MACHINE.clientId, '--scope', 'notes:read'], io, env),
    0,
  )
  t.match(out, /token fingerprint [A-Za-z0-9_-]{16}/)
  t.match(out, /ok {4}client "reporting-job" got a token/)
  t.match(out, /ok {4}tools\/list answered/)
  t.notOk(out.includes(MACHINE.clientSecret), 'the secret is not printed')
  t.comment(out)

  out = ''
  t.equal(
    await runCommand(['doctor', url, '--json'], io, {
      ...env,
      PORTCULLIS_DOCTOR_CLIENT_ID: MACHINE.clientId,
    }),
    0,
    'the client id from the environment too',
  )
  t.match(
    JSON.parse(out).checks.find((c: { id: string }) => c.id === 'token.client_credentials'),
    { status: 'pass' },
  )

  out = ''
  t.equal(await runCommand(['doctor', url, '--client-id', MACHINE.clientId], io, {}), 2)
  t.match(out, /--client-id needs the client secret in PORTCULLIS_DOCTOR_CLIENT_SECRET/)

  out = ''
  t.equal(await runCommand(['doctor', url, `--client-secret=${MACHINE.clientSecret}`], io, {}), 2)
  t.match(out, /read from PORTCULLIS_DOCTOR_CLIENT_SECRET only/)
  t.notOk(out.includes(MACHINE.clientSecret), 'a secret given as an argument is not echoed either')

  out = ''
  t.equal(await runCommand(['doctor', url, '--client-id', 'x', '--token', 'abc'], io, env), 2)
  t.match(out, /give --token or --client-id, not both/)
  t.equal(await runCommand(['doctor', url, '--scope', 'notes:read'], io, env), 2)
})
