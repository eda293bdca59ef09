import { startDevIdp } from '@portcullis/dev-idp'
import t from 'tap'
import { getJson } from './fixtures/http.js'

t.test('RFC 8414 and OIDC discovery carry what MCP clients check', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)
  t.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(idp.metadataUrl, `${idp.issuer}/.well-known/oauth-authorization-server`)
  t.equal(idp.discoveryUrl, `${idp.issuer}/.well-known/openid-configuration`)

  for (const url of [idp.metadataUrl!, idp.discoveryUrl]) {
    const { status, body } = await getJson(url)
    t.equal(status, 200, url)
    // RFC 8414 §3.3: issuer identical to the one the URL was built from.
    t.equal(body?.issuer, idp.issuer)
    t.same(body?.code_challenge_methods_supported, ['S256'])
    t.equal(body?.registration_endpoint, `${idp.issuer}/register`)
    t.equal(body?.authorization_response_iss_parameter_supported, true)
    t.equal(body?.introspection_endpoint, `${idp.issuer}/introspect`)
    t.equal(body?.revocation_endpoint, `${idp.issuer}/revoke`)
    t.equal(body?.token_endpoint, idp.endpoints.token)
    t.equal(body?.authorization_endpoint, idp.endpoints.authorization)
    t.equal(body?.jwks_uri, idp.endpoints.jwks)
    t.same(body?.response_types_supported, ['code'])
    t.ok(body?.grant_types_supported.includes('client_credentials'))
    t.ok(body?.grant_types_supported.includes('refresh_token'))
    t.ok(body?.token_endpoint_auth_methods_supported.includes('none'))
    t.ok(body?.token_endpoint_auth_methods_supported.includes('client_secret_basic'))
  }
})

t.test('the JWKS holds public keys only', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)
  const { status, body } = await getJson(idp.endpoints.jwks)
  t.equal(status, 200)
  t.same(body?.keys.map((k: { alg: string }) => k.alg).sort(), ['ES256', 'RS256'])
  for (const key of body?.keys ?? []) {
    t.notOk('d' in key, 'no private part')
    t.type(key.kid, 'string')
  }
})

t.test('oauthMetadata: false serves OIDC discovery only', async (t) => {
  const idp = await startDevIdp({ oauthMetadata: false })
  t.teardown(idp.close)
  t.equal(idp.metadataUrl, undefined)
  t.equal((await getJson(`${idp.issuer}/.well-known/oauth-authorization-server`)).status, 404)
  t.equal((await getJson(idp.discoveryUrl)).status, 200)
})

t.test('Keycloak shape: path issuer, path-append and path-inserted metadata', async (t) => {
  const idp = await startDevIdp({ shape: 'keycloak', realm: 'acme' })
  t.teardown(idp.close)
  t.equal(idp.issuer, `${idp.url}/realms/acme`)
  t.equal(idp.metadataUrl, `${idp.url}/.well-known/oauth-authorization-server/realms/acme`)
  const urls = [
    idp.metadataUrl!,
    `${idp.issuer}/.well-known/oauth-authorization-server`,
    `${idp.issuer}/.well-known/openid-configuration`,
  ]
  for (const url of urls) {
    const { status, body } = await getJson(url)
    t.equal(status, 200, url)
    t.equal(body?.issuer, idp.issuer, url)
    t.equal(body?.token_endpoint, `${idp.issuer}/protocol/openid-connect/token`, url)
    t.equal(body?.jwks_uri, `${idp.issuer}/protocol/openid-connect/certs`, url)
    t.equal(body?.registration_endpoint, `${idp.issuer}/clients-registrations/openid-connect`, url)
    t.equal(body?.introspection_endpoint, `${idp.issuer}/protocol/openid-connect/token/introspect`, url)
  }
  // OIDC path insertion is not something Keycloak serves, nor anything outside the realm.
  t.equal((await getJson(`${idp.url}/.well-known/openid-configuration/realms/acme`)).status, 404)
  t.equal((await getJson(`${idp.url}/.well-known/openid-configuration`)).status, 404)
  t.equal((await getJson(`${idp.url}/realms/other/.well-known/openid-configuration`)).status, 404)
})

t.test('Keycloak shape before 26.4: no path-inserted RFC 8414 document', async (t) => {
  const idp = await startDevIdp({ shape: 'keycloak', realm: 'old', pathInsertedMetadata: false })
  t.teardown(idp.close)
  t.equal((await getJson(`${idp.url}/.well-known/oauth-authorization-server/realms/old`)).status, 404)
  t.equal(idp.metadataUrl, `${idp.issuer}/.well-known/oauth-authorization-server`)
  t.equal((await getJson(idp.metadataUrl!)).body?.issuer, idp.issuer)
})

t.test('Auth0 shape: trailing-slash issuer, Auth0 paths, no introspection', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0' })
  t.teardown(idp.close)
  t.equal(idp.issuer, `${idp.url}/`)
  const { body } = await getJson(idp.discoveryUrl)
  t.equal(body?.issuer, idp.issuer)
  t.equal(body?.token_endpoint, `${idp.url}/oauth/token`)
  t.equal(body?.jwks_uri, `${idp.url}/.well-known/jwks.json`)
  t.equal(body?.registration_endpoint, `${idp.url}/oidc/register`)
  t.equal(body?.introspection_endpoint, undefined)
  t.equal(idp.endpoints.introspection, undefined)
})

t.test('unknown paths answer 404 JSON, not a crash', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)
  const response = await fetch(`${idp.url}/nope`)
  t.equal(response.status, 404)
  await response.body?.cancel()
})
