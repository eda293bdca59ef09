// Roles decide what each user may be granted: the allowed subset of a request, invalid_scope when
// nothing is left, the default scope and resource of a request without them (RFC 6749 §3.3), and a
// description on every refusal.
import { completeAuthorization, createPkce, DEFAULT_ROLES, startDevIdp } from '@portcullis/dev-idp'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { browser, getJson, postForm } from './fixtures/http.js'

const RESOURCE = 'http://127.0.0.1:3000/mcp'
const OTHER = 'http://127.0.0.1:3001/mcp'
const REDIRECT = 'http://127.0.0.1:8123/callback'
const ALL = 'notes:read notes:write notes:admin'

type Idp = Awaited<ReturnType<typeof startDevIdp>>

async function startIdp(t: Test, options: Parameters<typeof startDevIdp>[0] = {}) {
  const idp = await startDevIdp({ resources: [{ resource: RESOURCE }], ...options })
  t.teardown(idp.close)
  return idp
}

/** An authorization request of the public client; `undefined` values are left out. */
function authorizationUrl(idp: Idp, params: Record<string, string | undefined>, challenge: string) {
  const url = new URL(idp.endpoints.authorization)
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: idp.clients.public.client_id,
    redirect_uri: REDIRECT,
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  }
  for (const [key, value] of Object.entries(all)) if (value !== undefined) url.searchParams.set(key, value)
  return url
}

/** Runs the flow to the token response (or the authorization error). */
async function authorize(idp: Idp, params: Record<string, string | undefined>) {
  const pkce = createPkce()
  const answer = await completeAuthorization(authorizationUrl(idp, params, pkce.challenge), {
    redirectUri: REDIRECT,
  })
  if (answer.code === undefined) return { answer, token: undefined }
  const token = await postForm(idp.endpoints.token, {
    grant_type: 'authorization_code',
    code: answer.code,
    redirect_uri: REDIRECT,
    code_verifier: pkce.verifier,
    client_id: idp.clients.public.client_id,
  })
  return { answer, token: token.body }
}

t.test('each user gets what their roles allow of what was asked, never more', async (t) => {
  const idp = await startIdp(t)
  t.same(idp.roles, DEFAULT_ROLES)
  const cases = [
    { user: 'alice', scope: ALL, granted: ALL },
    { user: 'bob', scope: ALL, granted: 'notes:read' },
    { user: 'bob', scope: 'notes:read', granted: 'notes:read' },
  ]
  for (const { user, scope, granted } of cases) {
    const { token } = await authorize(idp, { scope, resource: RESOURCE, login_hint: user })
    t.equal(token?.scope, granted, `${user} asking for ${scope}: the token response names the grant`)
    t.equal(decodeJwt(token?.access_token).scope, granted, `${user}: the access token carries ${granted}`)
  }
  t.same(idp.allowedScopes('bob'), ['notes:read'])
  t.same(idp.allowedScopes('carol'), [])
  t.same(idp.userRoles('alice'), ['notes-admin', 'notes-editor'])

  // Refresh cannot widen the grant either.
  const { token } = await authorize(idp, { scope: ALL, resource: RESOURCE, login_hint: 'bob' })
  const refreshed = await postForm(idp.endpoints.token, {
    grant_type: 'refresh_token',
    refresh_token: token?.refresh_token,
    client_id: idp.clients.public.client_id,
    scope: 'notes:admin',
  })
  t.equal(refreshed.status, 400, 'a refresh for a refused scope is refused')
  t.equal(refreshed.body?.error, 'invalid_scope')
  t.type(refreshed.body?.error_description, 'string')
})

t.test('nothing left to grant: invalid_scope with a description, to the client', async (t) => {
  const idp = await startIdp(t)
  for (const [user, scope] of [
    ['bob', 'notes:admin'],
    ['bob', 'notes:write notes:admin'],
    ['carol', 'notes:read'],
    ['someone-else', ALL],
  ] as const) {
    const { answer, token } = await authorize(idp, { scope, resource: RESOURCE, login_hint: user })
    t.equal(token, undefined, `${user} asking for ${scope}: no code`)
    t.equal(answer.error, 'invalid_scope')
    t.match(answer.errorDescription, new RegExp(`user ${user} \\(roles: .*\\) may not have`))
    t.equal(answer.state, 's', 'the refusal goes back to the client with its state')
  }
})

t.test('a request without scope gets the base scopes; without resource, the default resource', async (t) => {
  const idp = await startIdp(t, {
    resources: [
      { resource: RESOURCE },
      { resource: OTHER, scopes: ['files:read', 'files:write'], baseScopes: ['files:read', 'files:write'] },
    ],
  })
  const plain = await authorize(idp, { login_hint: 'bob' })
  t.equal(plain.token?.scope, 'notes:read', 'the default resource, its base scope')
  t.equal(decodeJwt(plain.token?.access_token).aud, RESOURCE)

  const other = await authorize(idp, { resource: OTHER, login_hint: 'bob' })
  t.equal(other.token?.scope, 'files:read files:write', "the named resource's base scopes")
  t.equal(decodeJwt(other.token?.access_token).aud, OTHER)

  const noResource = await authorize(idp, { scope: 'notes:write', login_hint: 'alice' })
  t.equal(decodeJwt(noResource.token?.access_token).aud, RESOURCE, 'resource scopes without resource')

  const carol = await authorize(idp, { login_hint: 'carol' })
  t.equal(carol.answer.error, 'invalid_scope', 'no base scope allowed: refused, not an empty token')

  // A relying party signing a user in (OIDC scopes only) gets no resource added.
  const oidcOnly = await authorize(idp, { scope: 'openid', login_hint: 'bob' })
  t.type(oidcOnly.token?.id_token, 'string')
  const userinfo = await fetch(idp.endpoints.userinfo, {
    headers: { authorization: `Bearer ${oidcOnly.token?.access_token}` },
  })
  t.equal(userinfo.status, 200, 'the access token is for userinfo, not for a resource')
})

t.test('invalid base scopes are refused at start-up, naming the option', async (t) => {
  await t.rejects(
    startDevIdp({ resources: [{ resource: RESOURCE, baseScopes: ['files:read'] }] }),
    /startDevIdp: option "resources\.0\.baseScopes\.0": "files:read" is not one of the resource's scopes/,
  )
  await t.rejects(startDevIdp({ roles: { admin: ['has space'] } }), /roles\.admin\.0/)
})

t.test('roles are configurable; a scope no role names is open to every user', async (t) => {
  const idp = await startIdp(t, {
    users: { dora: { roles: ['auditor'] }, eve: { permissions: ['reports:write'] } },
    roles: { auditor: ['reports:read'], writer: ['reports:write'] },
    resources: [{ resource: RESOURCE, scopes: ['reports:read', 'reports:write', 'ping'] }],
  })
  const dora = await authorize(idp, { scope: 'reports:read reports:write ping', login_hint: 'dora' })
  t.equal(dora.token?.scope, 'reports:read ping')
  const eve = await authorize(idp, { scope: 'reports:read reports:write ping', login_hint: 'eve' })
  t.equal(eve.token?.scope, 'reports:write ping', 'permissions grant themselves (Auth0 RBAC)')
})

t.test('the sign-in page shows what is requested and what each user will be granted', async (t) => {
  const idp = await startIdp(t, { login: 'form' })
  const go = browser()
  const pkce = createPkce()
  const start = await go(authorizationUrl(idp, { scope: ALL, resource: RESOURCE }, pkce.challenge))
  const html = await (await go(start.location!)).response.text()
  t.match(html, `<dt>requested scope</dt><dd>${ALL}</dd>`)
  t.match(html, `<tr><td>alice</td><td>notes-admin, notes-editor</td><td>${ALL}</td></tr>`)
  t.match(html, '<tr><td>bob</td><td>notes-reader</td><td>notes:read</td></tr>')
  t.match(html, '<tr><td>carol</td><td>staff</td><td>nothing: refused (invalid_scope)</td></tr>')
  t.match(html, '<tr><td>(any other name)</td><td>(none)</td><td>nothing: refused (invalid_scope)</td></tr>')
})

t.test('every refusal carries an error_description', async (t) => {
  const idp = await startIdp(t)
  const pkce = createPkce()
  // A request oidc-provider answers without a description: the only scope is not a resource's.
  const unknown = await completeAuthorization(
    authorizationUrl(idp, { scope: 'mystery', resource: RESOURCE, login_hint: 'alice' }, pkce.challenge),
    { redirectUri: REDIRECT },
  )
  t.equal(unknown.error, 'access_denied')
  t.type(unknown.errorDescription, 'string')
  t.not(unknown.errorDescription, '')
  const token = await postForm(idp.endpoints.token, { grant_type: 'password', client_id: 'x' })
  t.equal(token.body?.error, 'invalid_client')
  t.type(token.body?.error_description, 'string')
  const target = await completeAuthorization(
    authorizationUrl(idp, { resource: 'https://elsewhere.example/mcp', login_hint: 'alice' }, pkce.challenge),
    { redirectUri: REDIRECT },
  )
  t.equal(target.error, 'invalid_target')
  t.match(target.errorDescription, /unknown resource/)
})

t.test('metadata lists the resources’ scopes, also those added later', async (t) => {
  const idp = await startIdp(t)
  const before = await getJson(idp.metadataUrl!)
  t.same(before.body?.scopes_supported, ['openid', 'offline_access', 'profile', 'email', ...ALL.split(' ')])
  idp.addResource({ resource: OTHER, scopes: ['files:read'] })
  const after = await getJson(idp.discoveryUrl)
  t.ok(after.body?.scopes_supported.includes('files:read'))
  t.equal(after.body?.client_id_metadata_document_supported, true)
})
