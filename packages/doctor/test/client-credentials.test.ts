// The doctor's client credentials grant against the dev IdP (oidc-provider): the demo's machine
// client with client_secret_basic, a client authenticating with client_secret_post, a refusal whose
// fix names the other method, and bad options refused before any request.
import t from 'tap'
import { doctor } from '../src/doctor.js'
import { startNotesStack } from './fixtures/stack.js'

const POSTER = {
  client_id: 'poster-job',
  client_secret: 'poster-secret-0123456789-0123456789-abcdef',
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
}

const stack = await startNotesStack({ extraClients: [POSTER] })
t.teardown(stack.close)

const problems = (report: Awaited<ReturnType<typeof doctor>>) =>
  report.checks.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => `${c.id}: ${c.message}`)

t.test("the dev IdP's machine client: a token for the resource, checked and tried", async (t) => {
  const { client_id, client_secret } = stack.idp.clients.machine
  const report = await doctor(stack.url, {
    clientCredentials: { clientId: client_id, clientSecret: client_secret },
  })
  t.same(problems(report), [])
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
  t.match(byId['token.client_credentials']?.message, /\(client_secret_basic, expires in \d+ s\)/)
  t.match(byId['token.scopes']?.message, /notes:read/, 'the scope the challenge asked for')
  t.equal(byId['token.tools_list']?.status, 'pass')
  t.notOk(JSON.stringify(report).includes(client_secret))
})

t.test('client_secret_post on request, and a refusal whose fix names the other method', async (t) => {
  const credentials = { clientId: POSTER.client_id, clientSecret: POSTER.client_secret }
  const post = await doctor(stack.url, {
    clientCredentials: {
      ...credentials,
      authMethod: 'client_secret_post',
      scopes: ['notes:read', 'notes:write'],
    },
  })
  t.same(problems(post), [])
  t.match(post.checks.find((c) => c.id === 'token.client_credentials')?.message, /\(client_secret_post,/)
  t.match(post.checks.find((c) => c.id === 'token.scopes')?.message, /notes:read.*notes:write/)

  const wrong = 'not-the-poster-secret-0123456789'
  const refused = await doctor(stack.url, {
    clientCredentials: { ...credentials, clientSecret: wrong, authMethod: 'client_secret_post' },
  })
  const check = refused.checks.find((c) => c.id === 'token.client_credentials')
  t.match(check, { status: 'fail', message: /\(client_secret_post\): HTTP 401 invalid_client/ })
  t.match(check?.fix, /--client-auth basic tries client_secret_basic/)
  t.notOk(JSON.stringify([post, refused]).includes(POSTER.client_secret))
  t.notOk(JSON.stringify(refused).includes(wrong))
})

t.test('options are checked before any request, never naming the secret', async (t) => {
  const secret = 'a-secret-that-must-not-show'
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ clientId: '', clientSecret: secret }, /clientId must be a non-empty string/],
    [{ clientId: 'x', clientSecret: '' }, /clientSecret must be a non-empty string/],
    [
      { clientId: 'x', clientSecret: secret, tokenEndpoint: 'not a url' },
      /tokenEndpoint "not a url" is not a URL/,
    ],
    [{ clientId: 'x', clientSecret: secret, scopes: ['a b'] }, /scopes must be RFC 6749 scope tokens/],
    [
      { clientId: 'x', clientSecret: secret, authMethod: 'private_key_jwt' },
      /authMethod is client_secret_basic/,
    ],
  ]
  for (const [clientCredentials, message] of cases) {
    const error = await doctor(stack.url, { clientCredentials: clientCredentials as never }).then(
      () => undefined,
      (e: Error) => e,
    )
    t.match(error?.message, message)
    t.notOk(error?.message.includes(secret))
  }
  await t.rejects(
    doctor(stack.url, { token: 'abc', clientCredentials: { clientId: 'x', clientSecret: secret } }),
    /give token or clientCredentials, not both/,
  )
})
