// DPoP (RFC 9449) at the broker: off by default (a DPoP-capable client still gets a Bearer token
// the MCP server accepts); when on, a token request with a proof gets tokens bound to the client's
// key, a public client's refresh token needs the same key, and bad or replayed proofs are refused.
import { randomUUID, type webcrypto } from 'node:crypto'
import {
  auth,
  type DpopSession,
  generateDpopKeyPair,
  DpopSession as Session,
} from '@modelcontextprotocol/client'
import { createPkce } from '@portcullis/dev-idp'
import { decodeJwt, SignJWT } from 'jose'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { type BrokerStack, registerNativeClient, startBrokerStack } from './fixtures/broker-stack.js'
import { HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { asV2, signInV2, toolResult } from './fixtures/sdk-clients.js'

const REDIRECT = 'http://127.0.0.1:8765/oauth/callback'

/** The headless provider with a DPoP key: the 2.x SDK then sends proofs (it looks for `dpop()`). */
class DpopProvider extends HeadlessOAuthProvider {
  constructor(
    readonly session: DpopSession,
    user: string,
  ) {
    super({
      user,
      clientName: 'dpop client',
      browser: (url, options) => new BrokerBrowser().authorize(url, options),
    })
  }
  dpop(): DpopSession {
    return this.session
  }
}

/** Signs in with the SDK's `auth()` alone (no MCP call): the tokens the broker issued. */
async function authorize(stack: BrokerStack, provider: DpopProvider) {
  t.equal(await auth(asV2(provider), { serverUrl: stack.url }), 'REDIRECT')
  const callback = provider.takeCallback()
  t.equal(
    await auth(asV2(provider), { serverUrl: stack.url, authorizationCode: callback.code, iss: callback.iss }),
    'AUTHORIZED',
  )
  return provider.tokens() as { access_token: string; token_type: string; refresh_token: string }
}

/** A DPoP proof JWT (RFC 9449 §4.2) for `htm` `htu`, signed with `key`; `change` alters it. */
async function proof(
  key: webcrypto.CryptoKeyPair & { publicJwk: Record<string, unknown> },
  htm: string,
  htu: string,
  change: { payload?: Record<string, unknown>; jwk?: Record<string, unknown> } = {},
): Promise<string> {
  return new SignJWT({ htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...change.payload })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: change.jwk ?? key.publicJwk })
    .sign(key.privateKey)
}

async function keyPair() {
  const { privateKey, publicKey, publicJwk, thumbprint } = await generateDpopKeyPair({ extractable: false })
  return { privateKey, publicKey, publicJwk: publicJwk as Record<string, unknown>, thumbprint }
}

async function tokenRequest(stack: BrokerStack, body: Record<string, string>, dpop?: string) {
  const response = await fetch(`${stack.origin}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(dpop ? { dpop } : {}) },
    body: new URLSearchParams(body),
  })
  return {
    status: response.status,
    nonce: response.headers.get('dpop-nonce'),
    body: (await response.json()) as Record<string, string>,
  }
}

/** An authorization-code token request for a registered public client, after the broker's sign-in and consent. */
async function codeGrant(stack: BrokerStack, clientId: string): Promise<Record<string, string>> {
  const pkce = createPkce()
  const url = new URL(`${stack.origin}/authorize`)
  for (const [name, value] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'notes:read',
    resource: stack.resource,
    state: 's',
    login_hint: 'bob',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  }))
    url.searchParams.set(name, value)
  const response = await new BrokerBrowser().authorize(url, { redirectUri: REDIRECT })
  return {
    grant_type: 'authorization_code',
    code: response.code!,
    redirect_uri: REDIRECT,
    code_verifier: pkce.verifier,
    client_id: clientId,
  }
}

t.test('off by default: a DPoP-capable 2.x client gets a Bearer token and the tools work', async (t) => {
  const stack = await startBrokerStack(t)
  const metadata = (await (
    await fetch(`${stack.origin}/.well-known/oauth-authorization-server`)
  ).json()) as Record<string, unknown>
  t.notOk('dpop_signing_alg_values_supported' in metadata, 'DPoP not advertised')
  const provider = new DpopProvider(await Session.create(), 'alice')
  const { client } = await signInV2(stack.url, provider, fetch, 'modern')
  t.teardown(() => client.close())
  t.equal(provider.tokens().token_type.toLowerCase(), 'bearer', 'the proof was ignored: a Bearer token')
  t.notOk(decodeJwt(provider.tokens().access_token).cnf, 'not bound to a key')
  t.match(toolResult(await client.callTool({ name: 'whoami', arguments: {} })), { sub: 'alice' })
})

t.test('on: tokens bound to the client key', async (t) => {
  const stack = await startBrokerStack(t, { broker: { dpop: { enabled: true } } })
  const metadata = (await (await fetch(`${stack.origin}/.well-known/oauth-authorization-server`)).json()) as {
    dpop_signing_alg_values_supported?: string[]
  }
  t.match(metadata.dpop_signing_alg_values_supported, Array, 'RFC 9449 §5.1 metadata')
  t.ok(metadata.dpop_signing_alg_values_supported?.includes('ES256'))

  t.test('the 2.x SDK client: token_type DPoP, cnf.jkt its key; unusable as a Bearer token', async (t) => {
    const session = await Session.create()
    const provider = new DpopProvider(session, 'alice')
    const tokens = await authorize(stack, provider)
    t.equal(tokens.token_type, 'DPoP')
    t.same(decodeJwt(tokens.access_token).cnf, { jkt: session.thumbprint }, 'RFC 9449 §6.1 cnf.jkt')
    await t.rejects(
      stack.broker.jwtVerifier(stack.resource).verifyAccessToken(tokens.access_token),
      { name: 'PortcullisError', reason: 'token_sender_constrained' },
      'the bound token is refused as a Bearer token by a verifier that checks no proof',
    )
  })

  t.test('a public client’s refresh token needs the same key', async (t) => {
    const key = await keyPair()
    const clientId = await registerNativeClient(stack, 'dpop raw', REDIRECT)
    const first = await tokenRequest(
      stack,
      await codeGrant(stack, clientId),
      await proof(key, 'POST', `${stack.origin}/token`),
    )
    t.equal(first.status, 200)
    t.equal(first.body.token_type, 'DPoP')
    t.same(decodeJwt(first.body.access_token!).cnf, { jkt: key.thumbprint })
    const refresh = {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token!,
      client_id: clientId,
    }

    const without = await tokenRequest(stack, refresh)
    t.equal(without.status, 400, 'without a proof')
    t.match(without.body.error, /^invalid_(grant|dpop_proof)$/)
    const otherKey = await keyPair()
    const other = await tokenRequest(stack, refresh, await proof(otherKey, 'POST', `${stack.origin}/token`))
    t.equal(other.status, 400, 'with another key')
    t.match(other.body.error, /^invalid_(grant|dpop_proof)$/)
    const same = await tokenRequest(stack, refresh, await proof(key, 'POST', `${stack.origin}/token`))
    t.equal(same.status, 200, 'with the same key')
    t.same(decodeJwt(same.body.access_token!).cnf, { jkt: key.thumbprint })
  })

  t.test('a client registered with dpop_bound_access_tokens gets nothing without a proof', async (t) => {
    // RFC 9449 §5.2: such a client always uses DPoP, so a token request without a proof is refused.
    const registered = await fetch(`${stack.origin}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'always dpop',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        dpop_bound_access_tokens: true,
      }),
    })
    t.equal(registered.status, 201)
    const clientId = ((await registered.json()) as { client_id: string }).client_id
    const body = await codeGrant(stack, clientId)
    const without = await tokenRequest(stack, body)
    t.equal(without.status, 400)
    t.match(without.body.error, /^invalid_(request|grant|dpop_proof)$/)
    t.notOk(without.body.access_token, 'no token without a proof')
    const key = await keyPair()
    const withProof = await tokenRequest(stack, body, await proof(key, 'POST', `${stack.origin}/token`))
    t.equal(withProof.status, 200, 'the same code with a proof (the refused request spent nothing)')
    t.equal(withProof.body.token_type, 'DPoP')
  })

  t.test('bad proofs: invalid_dpop_proof, nothing issued', async (t) => {
    const key = await keyPair()
    const otherKey = await keyPair()
    const clientId = await registerNativeClient(stack, 'dpop bad proofs', REDIRECT)
    const tokenUrl = `${stack.origin}/token`
    const now = Math.floor(Date.now() / 1000)
    const replayed = await proof(key, 'POST', tokenUrl)
    const cases: Array<[string, () => Promise<string>]> = [
      ['another URL (htu)', () => proof(key, 'POST', `${stack.origin}/other`)],
      ['another method (htm)', () => proof(key, 'GET', tokenUrl)],
      ['signed by a key other than its jwk', () => proof(key, 'POST', tokenUrl, { jwk: otherKey.publicJwk })],
      [
        'a private key in the header',
        () => proof(key, 'POST', tokenUrl, { jwk: { ...key.publicJwk, d: 'AAAA' } }),
      ],
      ['not a JWT', async () => 'not-a-jwt'],
    ]
    for (const [name, make] of cases) {
      const answer = await tokenRequest(stack, await codeGrant(stack, clientId), await make())
      t.equal(answer.status, 400, name)
      t.equal(answer.body.error, 'invalid_dpop_proof', `${name}: invalid_dpop_proof`)
      t.notOk(answer.body.access_token, `${name}: no token`)
    }
    // RFC 9449 §11.1: a proof too old or from the future is not accepted; the broker has nonces,
    // so it asks for one (§8) instead of taking the proof.
    for (const [name, iat] of [
      ['issued an hour ago', now - 3600],
      ['issued in an hour', now + 3600],
    ] as const) {
      const answer = await tokenRequest(
        stack,
        await codeGrant(stack, clientId),
        await proof(key, 'POST', tokenUrl, { payload: { iat } }),
      )
      t.equal(answer.status, 400, name)
      t.equal(answer.body.error, 'use_dpop_nonce', `${name}: use a nonce`)
      t.type(answer.nonce, 'string', `${name}: DPoP-Nonce given`)
      t.notOk(answer.body.access_token, `${name}: no token`)
    }
    // RFC 9449 §11.1: a proof is used once.
    const body = await codeGrant(stack, clientId)
    t.equal((await tokenRequest(stack, body, replayed)).status, 200, 'a fresh proof works once')
    const again = await tokenRequest(stack, await codeGrant(stack, clientId), replayed)
    t.equal(again.status, 400, 'the same proof again')
    // oidc-provider answers a replayed proof as an invalid grant.
    t.match(again.body, { error: /^invalid_(grant|dpop_proof)$/ })
    t.notOk(again.body.access_token)
  })
})

t.test(
  'nonces required: use_dpop_nonce, then the proof with the nonce; the SDK does it itself',
  async (t) => {
    const stack = await startBrokerStack(t, { broker: { dpop: { enabled: true, requireNonce: true } } })
    const key = await keyPair()
    const clientId = await registerNativeClient(stack, 'dpop nonce', REDIRECT)
    const body = await codeGrant(stack, clientId)
    const first = await tokenRequest(stack, body, await proof(key, 'POST', `${stack.origin}/token`))
    t.equal(first.status, 400)
    t.equal(first.body.error, 'use_dpop_nonce', 'RFC 9449 §8')
    t.type(first.nonce, 'string', 'with a DPoP-Nonce header')
    const second = await tokenRequest(
      stack,
      body,
      await proof(key, 'POST', `${stack.origin}/token`, { payload: { nonce: first.nonce } }),
    )
    t.equal(second.status, 200, 'the same request with the nonce')
    t.equal(second.body.token_type, 'DPoP')

    const session = await Session.create()
    const tokens = await authorize(stack, new DpopProvider(session, 'alice'))
    t.equal(tokens.token_type, 'DPoP', 'the 2.x SDK answers the nonce challenge')
    t.same(decodeJwt(tokens.access_token).cnf, { jkt: session.thumbprint })
  },
)
