import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startDevIdp } from '@portcullis/dev-idp'
import {
  auth0,
  type DiagnosisLogger,
  diagnose,
  type Finding,
  keycloak,
  logDiagnosis,
  oidc,
} from '@portcullis/idp'
import { loopbackServer, sendJson } from '@portcullis/test-kit'
import t, { type Test as Tap } from 'tap'
import { signer } from './fixtures/signer.js'

// Every finding is triggered by a dev IdP variant or by a loopback metadata server of this file.

const RESOURCE = 'http://127.0.0.1:4500/mcp'

const codes = (findings: Finding[]) => findings.map((f) => f.code)
const find = (findings: Finding[], code: string) => {
  const finding = findings.find((f) => f.code === code)
  if (finding === undefined) throw new Error(`no ${code} finding; got ${codes(findings).join(', ')}`)
  return finding
}

t.test('a healthy Keycloak realm (26.4+ metadata): nothing to fix', async (t) => {
  const idp = await startDevIdp({ shape: 'keycloak', realm: 'acme', resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const preset = keycloak({ url: idp.url, realm: 'acme', audience: RESOURCE })
  const findings = await diagnose(preset, { resource: RESOURCE })
  t.same(
    findings.filter((f) => f.severity !== 'info'),
    [],
    'no error or warning',
  )
  t.match(find(findings, 'metadata_found').message, `/.well-known/oauth-authorization-server/realms/acme`)
  t.match(find(findings, 'client_registration_policies').fix, /Trusted Hosts.*Initial Access Tokens/)
})

t.test('Keycloak before 26.4: metadata only at the OIDC path-appending URL', async (t) => {
  const idp = await startDevIdp({
    shape: 'keycloak',
    realm: 'acme',
    pathInsertedMetadata: false,
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => idp.close())
  const findings = await diagnose(keycloak({ url: idp.url, realm: 'acme', audience: RESOURCE }), {
    resource: RESOURCE,
  })
  const finding = find(findings, 'metadata_path_append_only')
  t.equal(finding.severity, 'warning')
  t.match(finding.message, `${idp.issuer}/.well-known/openid-configuration`)
  t.match(finding.message, /2025-06-18 clients look only at .*oauth-authorization-server\/realms\/acme/)
  t.match(finding.fix, /Upgrade Keycloak to 26\.4 or later/)
})

t.test('an issuer that differs from the metadata by a trailing slash (Auth0)', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0', resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const findings = await diagnose({ issuer: idp.url, audience: RESOURCE }, { resource: RESOURCE })
  const finding = find(findings, 'metadata_issuer_mismatch')
  t.equal(finding.severity, 'error')
  t.match(finding.message, /differ only by a trailing slash/)
  t.notOk(codes(findings).includes('metadata_unreachable'), 'the documents were found, with another issuer')

  const right = await diagnose(auth0({ domain: idp.url, audience: RESOURCE }), { resource: RESOURCE })
  t.notOk(codes(right).includes('metadata_issuer_mismatch'), 'the preset adds the slash itself')
})

t.test('an issuer listed in authorizationServers that is not the token issuer', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0', resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const preset = auth0({ domain: idp.url, audience: RESOURCE })
  const findings = await diagnose(
    { ...preset, options: { ...preset.options, authorizationServers: [`${idp.url}/oauth/token`] } },
    { resource: RESOURCE },
  )
  t.equal(find(findings, 'issuer_differs_from_authorization_server').severity, 'error')
  t.ok(codes(findings).includes('metadata_unreachable'), 'an endpoint URL has no metadata of its own')
})

t.test('only OpenID Connect discovery at the root (no RFC 8414 document)', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0', oauthMetadata: false, resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const findings = await diagnose(auth0({ domain: idp.url, audience: RESOURCE }), { resource: RESOURCE })
  const finding = find(findings, 'metadata_oidc_only')
  t.equal(finding.severity, 'warning')
  t.match(finding.fix, /Auth0 tenants publish OpenID Connect discovery/)
})

/** A metadata server of the test's own: every member can be left out or changed. */
async function metadataServer(t: Tap, doc: (origin: string) => Record<string, unknown>, jwks: unknown) {
  const server = await loopbackServer((req, res) => {
    if (req.url === '/.well-known/oauth-authorization-server') return sendJson(res, 200, doc(server.origin))
    if (req.url === '/jwks') return jwks === undefined ? sendJson(res, 404, {}) : sendJson(res, 200, jwks)
    sendJson(res, 404, {})
  })
  t.teardown(() => server.close())
  return server
}

const key = await signer('ES256')

t.test('PKCE S256 not advertised, and no way for clients to register', async (t) => {
  const server = await metadataServer(
    t,
    (origin) => ({
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      jwks_uri: `${origin}/jwks`,
      code_challenge_methods_supported: ['plain'],
    }),
    { keys: [key.jwk] },
  )
  const findings = await diagnose({ issuer: server.origin, audience: RESOURCE }, { resource: RESOURCE })
  const pkce = find(findings, 'pkce_s256_not_advertised')
  t.equal(pkce.severity, 'error')
  t.match(pkce.message, /must refuse/)
  const registration = find(findings, 'client_registration_unavailable')
  t.equal(registration.severity, 'warning')
  t.match(registration.message, /neither registration_endpoint nor client_id_metadata_document_supported/)
  t.notOk(
    codes(findings).some((c) => c.startsWith('jwks_')),
    'the key set is fine',
  )
})

t.test('Client ID Metadata Documents count as a way to register', async (t) => {
  const server = await metadataServer(
    t,
    (origin) => ({
      issuer: origin,
      jwks_uri: `${origin}/jwks`,
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    }),
    { keys: [key.jwk] },
  )
  const findings = await diagnose({ issuer: server.origin, audience: RESOURCE }, { resource: RESOURCE })
  t.same(codes(findings), ['metadata_found'])
})

t.test('empty, useless or unreachable key sets', async (t) => {
  const doc = (origin: string) => ({
    issuer: origin,
    jwks_uri: `${origin}/jwks`,
    code_challenge_methods_supported: ['S256'],
  })
  const empty = await metadataServer(t, doc, { keys: [] })
  t.equal(
    find(await diagnose({ issuer: empty.origin, audience: RESOURCE }, { resource: RESOURCE }), 'jwks_empty')
      .severity,
    'error',
  )

  const symmetric = await metadataServer(t, doc, { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] })
  const useless = find(
    await diagnose({ issuer: symmetric.origin, audience: RESOURCE }, { resource: RESOURCE }),
    'jwks_empty',
  )
  t.match(useless.message, /hmac: symmetric keys are never used to verify/)

  const missing = await metadataServer(t, doc, undefined)
  const unreachable = find(
    await diagnose({ issuer: missing.origin, audience: RESOURCE }, { resource: RESOURCE }),
    'jwks_unreachable',
  )
  t.match(unreachable.message, /HTTP 404/)

  const es = await metadataServer(t, doc, { keys: [key.jwk] })
  const notAllowed = find(
    await diagnose({ issuer: es.origin, audience: RESOURCE, algorithms: ['RS256'] }, { resource: RESOURCE }),
    'jwks_algorithms_not_allowed',
  )
  t.match(notAllowed.message, /keys: ES256; allowed: RS256/)
})

t.test('an authorization server that does not answer', async (t) => {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const started = Date.now()
  const findings = await diagnose(
    { issuer: `http://127.0.0.1:${port}/realms/gone`, audience: RESOURCE },
    { resource: RESOURCE, fetchTimeoutMs: 1000 },
  )
  const finding = find(findings, 'metadata_unreachable')
  t.equal(finding.severity, 'error')
  t.match(finding.message, /tried .*oauth-authorization-server\/realms\/gone -> network/)
  t.ok(Date.now() - started < 5000, 'bounded')
})

t.test('resource checks need no network', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0', resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const originOnly = await diagnose(auth0({ domain: idp.url, audience: 'http://127.0.0.1:4500' }), {
    resource: 'http://127.0.0.1:4500/',
  })
  t.equal(find(originOnly, 'resource_origin_only').severity, 'warning')

  const otherApi = find(
    await diagnose(auth0({ domain: idp.url, audience: 'https://api.example.com/notes' }), {
      resource: RESOURCE,
    }),
    'audience_not_resource',
  )
  t.equal(otherApi.severity, 'error')
  t.match(otherApi.fix, new RegExp(`Create the Auth0 API with the Identifier ${RESOURCE}`))

  const slash = find(
    await diagnose(auth0({ domain: idp.url, audience: `${RESOURCE}/` }), { resource: RESOURCE }),
    'audience_spelling',
  )
  t.match(slash.fix, new RegExp(`exactly ${RESOURCE}\\.`))

  const invalid = await diagnose(auth0({ domain: idp.url, audience: RESOURCE }), { resource: 'ftp://x/mcp' })
  t.equal(find(invalid, 'resource_invalid').severity, 'error')
})

t.test('a sample token: which check it fails and what to change in the console', async (t) => {
  const idp = await startDevIdp({
    shape: 'keycloak',
    realm: 'acme',
    keycloakAudience: 'account',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => idp.close())
  const preset = keycloak({ url: idp.url, realm: 'acme', audience: RESOURCE })
  const sampleToken = (await idp.userToken({ user: 'alice' })).access_token
  const findings = await diagnose(preset, { resource: RESOURCE, sampleToken })
  const finding = find(findings, 'sample_token_audience_mismatch')
  t.equal(finding.severity, 'error')
  t.match(finding.message, /fails the audience check/)
  t.match(finding.message, /token has aud "account"/)
  t.match(
    finding.fix,
    new RegExp(`In realm acme, add an Audience protocol mapper with Included Custom Audience = ${RESOURCE}`),
  )
  t.notOk(JSON.stringify(findings).includes(sampleToken), 'the token is never echoed')
})

t.test('a sample token from an Auth0 request without audience', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0', resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const sampleToken = (await idp.machineToken({ resource: null, scope: '' })).access_token
  const finding = find(
    await diagnose(auth0({ domain: idp.url, audience: RESOURCE }), { resource: RESOURCE, sampleToken }),
    'sample_token_malformed',
  )
  t.match(finding.message, /fails the format check/)
  t.match(finding.fix, /Resource Parameter Compatibility Profile/)
})

t.test('an accepted sample token, and one stripped of its roles', async (t) => {
  const idp = await startDevIdp({ shape: 'keycloak', realm: 'acme', resources: [{ resource: RESOURCE }] })
  t.teardown(() => idp.close())
  const preset = keycloak({
    url: idp.url,
    realm: 'acme',
    audience: RESOURCE,
    claims: { roles: ['missing_roles_claim'] },
    roles: { 'notes-admin': ['notes:admin'] },
  })
  const sampleToken = (await idp.userToken({ user: 'alice', scope: 'notes:read' })).access_token
  const findings = await diagnose(preset, { resource: RESOURCE, sampleToken })
  t.match(
    find(findings, 'sample_token_accepted').message,
    /client "dev-public", subject "alice", scopes \["notes:read"\]/,
  )
  const stripped = find(findings, 'sample_token_without_roles')
  t.equal(stripped.severity, 'warning')
  t.match(stripped.fix, /Add to lightweight access token/)
})

t.test('logDiagnosis logs each finding at its level and can stop the start-up', async (t) => {
  const idp = await startDevIdp({
    shape: 'keycloak',
    realm: 'acme',
    pathInsertedMetadata: false,
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => idp.close())
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = []
  const log: DiagnosisLogger = {
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
  }
  const preset = keycloak({ url: idp.url, realm: 'acme', audience: RESOURCE })
  const findings = await logDiagnosis(log, preset, { resource: RESOURCE })
  t.equal(lines.length, findings.length)
  const warn = lines.find((line) => line.fields.code === 'metadata_path_append_only')
  t.equal(warn?.level, 'warn')
  t.match(warn?.message, /^portcullis keycloak: metadata for/)
  t.match(warn?.fields, { idp: 'keycloak', fix: /Upgrade Keycloak/ })

  const badToken = await signer('RS256')
  await t.rejects(
    logDiagnosis(log, preset, {
      resource: RESOURCE,
      sampleToken: await badToken.mint({ iss: idp.issuer, aud: RESOURCE }),
      throwOnError: true,
    }),
    /portcullis keycloak: the IdP set-up has 1 error \(sample_token_kid_unknown\)/,
  )
})

t.test('options are validated', async (t) => {
  const preset = oidc({ issuer: 'https://as.example.com', audience: RESOURCE })
  await t.rejects(diagnose(preset, {} as never), {
    name: 'TypeError',
    owner: 'diagnose',
    message: /^diagnose: option "resource"/,
  })
  await t.rejects(diagnose(preset, { resource: RESOURCE, fetchTimeoutMs: -1 }), /option "fetchTimeoutMs"/)
})
