import { completeAuthorization, createPkce, startDevIdp } from '@portcullis/dev-idp'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { browser, postForm } from './fixtures/http.js'

const RESOURCE = 'http://127.0.0.1:3000/mcp'
const REDIRECT = 'http://127.0.0.1:8123/callback'

type Idp = Awaited<ReturnType<typeof startDevIdp>>

function authorizationUrl(idp: Idp, pkce: { challenge: string }, loginHint?: string) {
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: idp.clients.public.client_id,
    redirect_uri: REDIRECT,
    resource: RESOURCE,
    scope: 'notes:read',
    state: 's',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...(loginHint === undefined ? {} : { login_hint: loginHint }),
  }).toString()
  return url
}

async function startIdp(t: Test) {
  const idp = await startDevIdp({ login: 'form', resources: [{ resource: RESOURCE }] })
  t.teardown(idp.close)
  return idp
}

t.test('a person signs in through the form; consent is granted', async (t) => {
  const idp = await startIdp(t)
  const go = browser()
  const pkce = createPkce()
  const start = await go(authorizationUrl(idp, pkce, '<b>hint</b>'))
  t.equal(start.response.status, 303)
  t.match(start.location?.pathname, /^\/interaction\//)

  const form = await go(start.location!)
  t.equal(form.response.status, 200)
  t.equal(form.response.headers.get('x-frame-options'), 'DENY')
  const html = await form.response.text()
  t.match(html, /<form method="post" action="\/interaction\/[^"]+"/)
  t.match(html, /value="&#60;b&#62;hint&#60;\/b&#62;"/, 'login_hint is escaped')
  t.notMatch(html, /<b>hint/)
  t.match(html, new RegExp(RESOURCE.replace(/[.:/]/g, '\\$&')), 'shows the resource')

  let step = await go(start.location!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login: 'bob' }),
  })
  let hops = 0
  while (step.location && !step.location.href.startsWith(REDIRECT)) {
    t.ok(++hops < 10)
    step = await go(step.location)
  }
  t.equal(step.location?.searchParams.get('iss'), idp.issuer)
  const code = step.location?.searchParams.get('code')
  t.type(code, 'string')
  const token = await postForm(idp.endpoints.token, {
    grant_type: 'authorization_code',
    code: code!,
    redirect_uri: REDIRECT,
    code_verifier: pkce.verifier,
    client_id: idp.clients.public.client_id,
  })
  t.equal(decodeJwt(token.body?.access_token).sub, 'bob')
})

t.test('Deny sends access_denied to the client', async (t) => {
  const idp = await startIdp(t)
  const go = browser()
  const start = await go(authorizationUrl(idp, createPkce()))
  const denied = await go(start.location!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login: 'dave', deny: '1' }),
  })
  const back = await go(denied.location!)
  t.ok(back.location?.href.startsWith(REDIRECT))
  t.equal(back.location?.searchParams.get('error'), 'access_denied')
})

t.test('bad form posts get a page, not a crash', async (t) => {
  const idp = await startIdp(t)
  const go = browser()
  const start = await go(authorizationUrl(idp, createPkce()))
  const post = (body: string) =>
    go(start.location!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
  t.equal((await post('login=')).response.status, 400)
  t.equal((await post(`login=${'a'.repeat(201)}`)).response.status, 400)
  t.equal((await post(`login=${'a'.repeat(9000)}`)).response.status, 413)
  // Still usable after the failures.
  const ok = await post('login=erin')
  t.equal(ok.response.status, 303)
})

t.test('an interaction without its cookie is a clear 400 page', async (t) => {
  const idp = await startIdp(t)
  const start = await browser()(authorizationUrl(idp, createPkce()))
  const stranger = await fetch(start.location!, { redirect: 'manual' })
  t.equal(stranger.status, 400)
  t.match(await stranger.text(), /expired|cookie/)
})

t.test('headless helpers say why they cannot drive the form', async (t) => {
  const idp = await startIdp(t)
  await t.rejects(idp.userToken(), /login: 'auto'/)
  await t.rejects(completeAuthorization(authorizationUrl(idp, createPkce())), /sign-in form/)
})
