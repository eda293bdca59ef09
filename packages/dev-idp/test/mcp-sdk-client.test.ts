import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  auth,
  ClientCredentialsProvider,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client'
import { completeAuthorization, type DevIdpOptions, startDevIdp } from '@portcullis/dev-idp'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'

/**
 * The parts of an MCP server the SDK's auth flow reads before it talks to the IdP: the RFC 9728
 * protected-resource metadata at the path-inserted well-known URL.
 */
async function protectedResource(t: Test, issuer: () => string) {
  const server = createServer((req, res) => {
    const { port } = server.address() as AddressInfo
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          resource: `http://127.0.0.1:${port}/mcp`,
          authorization_servers: [issuer()],
          scopes_supported: ['notes:read', 'notes:write'],
        }),
      )
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`
}

/** An in-memory OAuthClientProvider that remembers what the SDK hands it. */
class MemoryClientProvider implements OAuthClientProvider {
  client: StoredOAuthClientInformation | undefined
  stored: StoredOAuthTokens | undefined
  verifier = ''
  discovery: OAuthDiscoveryState | undefined
  authorizationUrl: URL | undefined
  readonly redirectUrl = 'http://127.0.0.1:8976/callback'
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'sdk test client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }
  clientInformation() {
    return this.client
  }
  saveClientInformation(info: StoredOAuthClientInformation) {
    this.client = info
  }
  tokens() {
    return this.stored
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.stored = tokens
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier
  }
  codeVerifier() {
    return this.verifier
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state
  }
  discoveryState() {
    return this.discovery
  }
}

const shapes: Array<[string, DevIdpOptions]> = [
  ['generic', {}],
  ['keycloak', { shape: 'keycloak', realm: 'acme' }],
  ['auth0', { shape: 'auth0' }],
]

for (const [name, options] of shapes) {
  t.test(`the MCP SDK client registers, authorizes and refreshes against the ${name} shape`, async (t) => {
    let idpIssuer = ''
    const serverUrl = await protectedResource(t, () => idpIssuer)
    const idp = await startDevIdp({ ...options, resources: [{ resource: serverUrl }] })
    t.teardown(idp.close)
    idpIssuer = idp.issuer

    const provider = new MemoryClientProvider()
    t.equal(await auth(provider, { serverUrl }), 'REDIRECT')
    t.type(provider.client?.client_id, 'string', 'registered dynamically')
    const authorizationUrl = provider.authorizationUrl!
    t.equal(authorizationUrl.searchParams.get('resource'), serverUrl)
    t.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256')

    authorizationUrl.searchParams.set('login_hint', 'alice')
    const { code, iss } = await completeAuthorization(authorizationUrl, { redirectUri: provider.redirectUrl })
    t.equal(iss, idp.issuer)
    t.equal(await auth(provider, { serverUrl, authorizationCode: code!, iss }), 'AUTHORIZED')

    const jwks = createRemoteJWKSet(new URL(idp.endpoints.jwks))
    const first = provider.stored!
    const { payload } = await jwtVerify(first.access_token, jwks, { issuer: idp.issuer, audience: serverUrl })
    t.equal(payload.sub, 'alice')
    t.equal(payload.scope, 'notes:read notes:write')
    t.type(first.refresh_token, 'string')

    // With a refresh token stored, auth() refreshes instead of redirecting; the old one is rotated.
    t.equal(await auth(provider, { serverUrl }), 'AUTHORIZED')
    t.not(provider.stored!.refresh_token, first.refresh_token)
    t.not(provider.stored!.access_token, first.access_token)
  })
}

t.test('the MCP SDK client-credentials provider gets a JWT for the resource', async (t) => {
  let idpIssuer = ''
  const serverUrl = await protectedResource(t, () => idpIssuer)
  const idp = await startDevIdp({ resources: [{ resource: serverUrl }] })
  t.teardown(idp.close)
  idpIssuer = idp.issuer
  const provider = new ClientCredentialsProvider({
    clientId: idp.clients.machine.client_id,
    clientSecret: idp.clients.machine.client_secret,
  })
  t.equal(await auth(provider, { serverUrl }), 'AUTHORIZED')
  const tokens = await provider.tokens()
  const { payload } = await jwtVerify(tokens!.access_token, createRemoteJWKSet(new URL(idp.endpoints.jwks)), {
    issuer: idp.issuer,
    audience: serverUrl,
  })
  t.equal(payload.client_id, idp.clients.machine.client_id)
})
