// Client ID metadata documents at the broker: a client whose client_id is an https URL, fetched
// with the SSRF rules, and documents that lie, are huge, slow, redirected or on a private address.
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { startBrokerStack } from './fixtures/broker-stack.js'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { json, startMetadataDocumentServer } from './fixtures/metadata-document-server.js'
import { signInV1, signInV2, toolResult } from './fixtures/sdk-clients.js'

const REDIRECT = 'http://127.0.0.1:8765/oauth/callback'
const document = (url: string) => ({
  client_id: url,
  client_name: 'Notes CLI (metadata document)',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
})

t.test(
  'first contact by a client ID metadata document, with both SDK lines and both protocol eras',
  async (t) => {
    const documents = await startMetadataDocumentServer(t)
    const clientId = documents.route('/client.json', json(document, { 'cache-control': 'max-age=300' }))
    const stack = await startBrokerStack(t, {
      broker: { clientIdMetadataDocuments: { allowLoopback: true, fetch: documents.fetch } },
    })
    const lines = [
      { sdk: 'v2', era: 'modern', firstRpc: 'server/discover' },
      { sdk: 'v2', era: 'legacy', firstRpc: 'initialize' },
      { sdk: 'v1', era: 'legacy', firstRpc: 'initialize' },
    ] as const
    for (const [index, line] of lines.entries()) {
      t.test(`${line.sdk} client, ${line.era === 'modern' ? '2026-07-28' : '2025'} protocol`, async (t) => {
        const browser = new BrokerBrowser()
        const provider = new HeadlessOAuthProvider({
          user: 'alice',
          clientName: 'unused',
          clientMetadataUrl: clientId,
          browser: (url, options) => browser.authorize(url, options),
        })
        const recorder = exchangeRecorder()
        const { client } =
          line.sdk === 'v2'
            ? await signInV2(stack.url, provider, recorder.fetch, line.era)
            : await signInV1(stack.url, provider, recorder.fetch)
        t.teardown(() => client.close())
        t.equal(
          recorder.log.find((e) => e.rpc !== undefined)?.rpc,
          line.firstRpc,
          `the ${line.era} protocol: ${line.firstRpc} first`,
        )
        t.notOk(
          recorder.log.some((e) => e.url.endsWith('/register')),
          'no registration',
        )
        t.equal(provider.authorizationRequests[0]?.searchParams.get('client_id'), clientId)
        if (index === 0) {
          t.match(
            browser.consentPages[0]?.html,
            /Notes CLI \(metadata document\)/,
            'consent names the client',
          )
          t.notMatch(
            browser.consentPages[0]?.html,
            /not verified/,
            'a document’s name is not marked unverified',
          )
        } else {
          // Same user, same client (the same document URL): consent is remembered, in a new browser too.
          t.equal(browser.consentPages.length, 0, 'consent is asked once per user and client')
        }
        t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })), {
          sub: 'alice',
          client: clientId,
          scopes: ['notes:read'],
        })
        const token = await provider.tokens()
        const info = await stack.broker.jwtVerifier(stack.resource).verifyAccessToken(token!.access_token)
        t.equal(info.clientId, clientId, 'the broker’s token names the document URL as its client')
      })
    }
  },
)

t.test('bad metadata documents: refused, no redirect, nothing issued', async (t) => {
  const documents = await startMetadataDocumentServer(t)
  const lying = documents.route(
    '/lying.json',
    json(() => document('https://trusted.example/client.json')),
  )
  const huge = documents.route(
    '/huge.json',
    json((url) => ({ ...document(url), client_name: 'x'.repeat(20_000) })),
  )
  const slow = documents.route('/slow.json', (res, url) => {
    setTimeout(() => json(document)(res, url), 3000).unref()
  })
  const redirected = documents.route('/redirect.json', (res) => {
    res.writeHead(302, { location: `${documents.origin}/client.json` }).end()
  })
  documents.route('/client.json', json(document))
  const secretInside = documents.route(
    '/secret.json',
    json((url) => ({ ...document(url), client_secret: 'x' })),
  )
  const wrongRedirect = documents.route(
    '/other-redirect.json',
    json((url) => ({ ...document(url), redirect_uris: ['http://127.0.0.1:8765/oauth/callbacK'] })),
  )
  const stack = await startBrokerStack(t, {
    broker: { clientIdMetadataDocuments: { allowLoopback: true, fetch: documents.fetch, timeoutMs: 500 } },
  })
  const attempt = async (clientId: string) => {
    const url = new URL(`${stack.origin}/authorize`)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      scope: 'notes:read',
      resource: stack.resource,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString()
    return fetch(url, { redirect: 'manual' })
  }
  for (const [name, clientId] of [
    ['client_id differs from its URL', lying],
    ['larger than the limit', huge],
    ['slower than the time limit', slow],
    ['redirected', redirected],
    ['holding a client_secret', secretInside],
  ] as const) {
    const response = await attempt(clientId)
    t.equal(response.status, 400, `${name}: 400`)
    t.equal(response.headers.get('location'), null, `${name}: no redirect to the client`)
    t.match(await response.text(), /invalid_client/, `${name}: invalid_client`)
  }
  const mismatch = await attempt(wrongRedirect)
  t.equal(mismatch.status, 400, 'a redirect URI one character off the document: 400')
  t.equal(mismatch.headers.get('location'), null)
})

t.test('metadata documents on loopback or private addresses are refused unless allowed', async (t) => {
  const documents = await startMetadataDocumentServer(t)
  const clientId = documents.route('/client.json', json(document))
  const stack = await startBrokerStack(t, { broker: { clientIdMetadataDocuments: { allowLoopback: false } } })
  const url = new URL(`${stack.origin}/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    resource: stack.resource,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString()
  const response = await fetch(url, { redirect: 'manual' })
  t.equal(response.status, 400)
  t.equal(response.headers.get('location'), null)
  t.match(await response.text(), /invalid_client/)
  // http URLs are never client ids.
  url.searchParams.set('client_id', clientId.replace('https:', 'http:'))
  const plain = await fetch(url, { redirect: 'manual' })
  t.equal(plain.status, 400)
})
