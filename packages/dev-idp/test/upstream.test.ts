// The dev IdP as the upstream of a broker: registration: false (no DCR, no CIMD), a confidential
// client from extraClients, and the user's roles in the ID token and userinfo. Also the escape
// hatches: provider.use() after start, and configureProvider.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AUTH0_ROLES_CLAIM,
  completeAuthorization,
  createPkce,
  type DevIdpShape,
  startDevIdp,
} from '@portcullis/dev-idp'
import { decodeJwt } from 'jose'
import t from 'tap'
import { formatBanner } from '../src/banner.js'
import { parseCommandLine } from '../src/command.js'
import { getJson, postForm, postJson } from './fixtures/http.js'

const RESOURCE = 'http://127.0.0.1:3000/mcp'
const CALLBACK = 'http://127.0.0.1:7000/oauth/upstream/callback'
const BROKER = {
  client_id: 'broker',
  client_secret: 'broker-secret-broker-secret-0123456789',
  redirect_uris: [CALLBACK],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}

/** The role claims a broker reads, per shape (the same claims the shape's access tokens carry). */
const ROLE_CLAIMS: Record<DevIdpShape, (claims: Record<string, unknown>) => unknown> = {
  generic: (c) => c.roles,
  keycloak: (c) => (c.realm_access as { roles?: unknown } | undefined)?.roles,
  auth0: (c) => c[AUTH0_ROLES_CLAIM],
}
const BOB_ROLES: Record<DevIdpShape, unknown> = {
  generic: ['notes-reader'],
  keycloak: ['notes-reader', 'default-roles-portcullis'],
  auth0: ['notes-reader'],
}

for (const shape of ['generic', 'keycloak', 'auth0'] as const) {
  t.test(
    `${shape}: registration: false, a confidential extra client, roles in the ID token and userinfo`,
    async (t) => {
      const idp = await startDevIdp({
        shape,
        registration: false,
        extraClients: [BROKER],
        resources: [{ resource: RESOURCE }],
      })
      t.teardown(idp.close)
      t.equal(idp.registration, false)
      t.equal(idp.clientIdMetadataDocuments, false)
      t.equal(idp.endpoints.registration, undefined)

      const discovery = await getJson(idp.discoveryUrl)
      t.equal(discovery.body?.registration_endpoint, undefined, 'no registration endpoint advertised')
      t.equal(discovery.body?.client_id_metadata_document_supported, undefined, 'no CIMD advertised')
      const registerAt = new URL(
        shape === 'keycloak'
          ? '/realms/portcullis/clients-registrations/openid-connect'
          : shape === 'auth0'
            ? '/oidc/register'
            : '/register',
        idp.url,
      )
      const registration = await postJson(registerAt.href, { redirect_uris: [CALLBACK] })
      t.equal(registration.status, 404, 'registration is not served')

      // The broker's sign-in: openid profile email, no resource (an upstream IdP knows no MCP server).
      const pkce = createPkce()
      const url = new URL(idp.endpoints.authorization)
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: BROKER.client_id,
        redirect_uri: CALLBACK,
        scope: 'openid profile email',
        state: 'st',
        nonce: 'n-1',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
        login_hint: 'bob',
      }).toString()
      const answer = await completeAuthorization(url, { redirectUri: CALLBACK })
      t.type(answer.code, 'string')
      const token = await postForm(
        idp.endpoints.token,
        {
          grant_type: 'authorization_code',
          code: answer.code!,
          redirect_uri: CALLBACK,
          code_verifier: pkce.verifier,
        },
        BROKER,
      )
      t.equal(token.status, 200)
      const idToken = decodeJwt(token.body?.id_token)
      t.equal(idToken.sub, 'bob')
      t.equal(idToken.aud, BROKER.client_id)
      t.equal(idToken.email, 'bob@example.test')
      t.same(ROLE_CLAIMS[shape](idToken), BOB_ROLES[shape], 'the ID token carries the roles')

      const userinfo = await fetch(idp.endpoints.userinfo, {
        headers: { authorization: `Bearer ${token.body?.access_token}` },
      })
      t.equal(userinfo.status, 200)
      t.same(
        ROLE_CLAIMS[shape]((await userinfo.json()) as Record<string, unknown>),
        BOB_ROLES[shape],
        'so does userinfo',
      )

      // A client id that is a URL is unknown here: no metadata document is fetched.
      const cimd = await fetch(
        new URL(
          `?client_id=${encodeURIComponent('https://127.0.0.1:1/client')}&response_type=code`,
          idp.endpoints.authorization,
        ),
        { redirect: 'manual' },
      )
      await cimd.body?.cancel()
      t.equal(cimd.status, 400)
    },
  )
}

t.test('registration: false cannot be combined with client metadata documents', async (t) => {
  await t.rejects(
    startDevIdp({ registration: false, clientIdMetadataDocuments: true }),
    /startDevIdp: option "clientIdMetadataDocuments": cannot be on with registration: false/,
  )
})

t.test('the command: --no-registration and --extra-clients <file>', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'dev-idp-clients-'))
  t.teardown(() => rm(directory, { recursive: true, force: true }))
  const file = join(directory, 'clients.json')
  await writeFile(file, JSON.stringify([BROKER]))
  const command = parseCommandLine(['--no-registration', '--extra-clients', file])
  t.match(command, { help: false, options: { registration: false, extraClients: [BROKER] } })
  await writeFile(file, '{"client_id":"x"}')
  t.throws(() => parseCommandLine(['--extra-clients', file]), /expected a JSON array/)
  t.throws(
    () => parseCommandLine(['--extra-clients', join(directory, 'missing.json')]),
    /--extra-clients .*missing\.json/,
  )
})

t.test('provider.use() after start runs; configureProvider has the last word', async (t) => {
  const idp = await startDevIdp({
    resources: [{ resource: RESOURCE }],
    configureProvider(configuration) {
      configuration.discovery = {
        ...configuration.discovery,
        service_documentation: 'https://docs.example/idp',
      }
      return configuration
    },
  })
  t.teardown(idp.close)
  const before = await fetch(idp.discoveryUrl)
  t.equal(before.headers.get('x-added-later'), null)
  t.equal(
    ((await before.json()) as Record<string, unknown>).service_documentation,
    'https://docs.example/idp',
  )
  idp.provider.use(async (ctx, next) => {
    await next()
    ctx.set('x-added-later', ctx.oidc?.route ?? 'none')
  })
  const after = await fetch(idp.discoveryUrl)
  await after.body?.cancel()
  t.equal(after.headers.get('x-added-later'), 'discovery', 'middleware added after start runs')
  await t.rejects(
    startDevIdp({ configureProvider: 'nope' as never }),
    /option "configureProvider": must be a function/,
  )
})

t.test(
  'the banner says what the running IdP offers: registration, metadata documents, users and grants',
  async (t) => {
    const open = await startDevIdp({ resources: [{ resource: RESOURCE }] })
    t.teardown(open.close)
    const openBanner = formatBanner(open, { login: 'form', users: open.users, keysFile: undefined })
    t.match(openBanner, `registration       ${open.endpoints.registration} (open, CORS for loopback origins)`)
    t.match(
      openBanner,
      'client metadata    accepted: an https URL as client_id (Client ID Metadata Documents)',
    )
    t.match(openBanner, '  alice  roles notes-admin, notes-editor -> notes:read notes:write notes:admin\n')
    t.match(openBanner, '  bob    roles notes-reader -> notes:read\n')
    t.match(openBanner, '  carol  roles staff -> nothing (invalid_scope)\n')

    const closed = await startDevIdp({ registration: false, resources: [{ resource: RESOURCE }] })
    t.teardown(closed.close)
    const closedBanner = formatBanner(closed, { login: 'auto', users: closed.users, keysFile: undefined })
    t.match(
      closedBanner,
      'registration       none (no dynamic registration, no client metadata documents): static clients only',
    )
    t.notMatch(closedBanner, 'client metadata    accepted')
  },
)
