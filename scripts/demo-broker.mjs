#!/usr/bin/env node
// `pnpm start:broker`: the notes MCP server with its own authorization server (the broker), and the
// dev IdP as the organisation's IdP behind it, in this one process from the built packages. The
// dev IdP shows a sign-in form and is reached by MCP clients only through the broker. Prints what
// to do, and stops on Ctrl-C.
//
// Environment: PORTCULLIS_DEMO_MCP_PORT (3000), PORTCULLIS_DEMO_IDP_PORT (4000),
// PORTCULLIS_DEMO_KEYS_FILE (.broker-keys.json), PORTCULLIS_SDK (v2 | v1).
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const built = (path) => resolve(ROOT, path)
const MODULES = {
  devIdp: built('packages/dev-idp/dist/index.js'),
  idp: built('packages/idp/dist/index.js'),
  example: built('examples/broker-notes-server/dist/index.js'),
}

function fail(message) {
  process.stderr.write(`portcullis broker demo: ${message}\n`)
  process.exit(1)
}

function portFrom(name, fallback) {
  const value = process.env[name]
  if (value === undefined || value === '') return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    fail(`${name} must be a port number from 1 to 65535, got ${JSON.stringify(value)}`)
  }
  return Number(value)
}

for (const path of Object.values(MODULES)) {
  if (!existsSync(path))
    fail(`${path} is missing: build first (pnpm start:broker builds, then runs this script)`)
}
const mcpPort = portFrom('PORTCULLIS_DEMO_MCP_PORT', 3000)
const idpPort = portFrom('PORTCULLIS_DEMO_IDP_PORT', 4000)
const sdk = process.env.PORTCULLIS_SDK || 'v2'
if (sdk !== 'v1' && sdk !== 'v2') fail(`PORTCULLIS_SDK must be v1 or v2, got ${JSON.stringify(sdk)}`)
if (mcpPort === idpPort) fail(`the MCP server and the dev IdP need two ports, both are ${mcpPort}`)
const keysFile = resolve(ROOT, process.env.PORTCULLIS_DEMO_KEYS_FILE || '.broker-keys.json')

const { startDevIdp } = await import(pathToFileURL(MODULES.devIdp).href)
const { oidc } = await import(pathToFileURL(MODULES.idp).href)
const { createBrokerNotesServer, NOTES_ROLES } = await import(pathToFileURL(MODULES.example).href)

const origin = `http://127.0.0.1:${mcpPort}`
const resource = `${origin}/mcp`
// The upstream issues tokens for its own API; their roles decide the MCP scopes at the broker.
const upstreamApi = `${origin}/upstream-api`
const brokerClient = { client_id: 'mcp-broker', client_secret: randomBytes(32).toString('base64url') }

let idp
try {
  idp = await startDevIdp({
    // localhost, not 127.0.0.1: the browser keeps the IdP's cookies apart from the broker's.
    host: 'localhost',
    port: idpPort,
    login: 'form',
    // An upstream without DCR or CIMD: only the broker's configured client gets in.
    registration: false,
    resources: [{ resource: upstreamApi }],
    extraClients: [
      {
        ...brokerClient,
        client_name: 'Portcullis broker',
        redirect_uris: [`${origin}/oauth/upstream/callback`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
  })
} catch (error) {
  fail(`the dev IdP could not start: ${error.message} (PORTCULLIS_DEMO_IDP_PORT=<port> picks another port)`)
}

let app
try {
  ;({ app } = await createBrokerNotesServer({
    origin,
    sdk,
    keysFile,
    upstream: {
      issuer: idp.issuer,
      clientId: brokerClient.client_id,
      clientSecret: brokerClient.client_secret,
      authorizationParams: { resource: upstreamApi },
      preset: oidc({ issuer: idp.issuer, audience: upstreamApi, roles: NOTES_ROLES }),
      userinfo: false,
    },
    // MCP Inspector and local clients may publish their metadata document on loopback.
    clientIdMetadataDocuments: { allowLoopback: true },
  }))
  await app.listen({ port: mcpPort, host: '127.0.0.1' })
} catch (error) {
  await idp.close()
  fail(
    `the MCP server could not start: ${error.message} (PORTCULLIS_DEMO_MCP_PORT=<port> picks another port)`,
  )
}

process.stdout.write(`
Portcullis broker demo: an MCP server with its own authorization server, signing users in at an IdP
that MCP clients cannot register with

  MCP server            ${resource}   (notes tools, MCP SDK ${sdk})
  authorization server  ${origin}   (the broker: ${origin}/.well-known/oauth-authorization-server)
  upstream IdP          ${idp.issuer}   (the dev IdP; the broker is its one confidential client)
  readiness             ${origin}/health   (200 while the broker and the gate are ready)

Connect with MCP Inspector
  npx @modelcontextprotocol/inspector
  In the page it opens: Transport Type "Streamable HTTP", URL ${resource}, then Connect.
  The browser goes to the broker, then to the dev IdP's sign-in form, then to the broker's consent page.

Users and scopes (roles at the IdP → scopes at the broker)
  alice (notes-admin, notes-editor): notes:read notes:write notes:admin
  bob (notes-reader): notes:read only, whatever the client asks for

Press Ctrl-C to stop.
`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await app.close()
  await idp.close()
  process.stdout.write('portcullis broker demo: stopped\n')
  process.exit(0)
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stop)
