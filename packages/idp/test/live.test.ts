import { auth0, diagnose, entra, type IdpPreset, keycloak } from '@portcullis/idp'
import t, { type Test as Tap } from 'tap'

// The opt-in live lane: the same checks against a real Keycloak, Auth0 tenant or Entra tenant,
// when its environment variables are set. Without them the lane says so in a comment and only
// checks that it is not half-configured: the default run has no skipped tests and needs no network.
//
// Keycloak: PORTCULLIS_LIVE_KEYCLOAK_URL, _REALM, _AUDIENCE (the MCP resource URL), and either
//   _TOKEN (an access token) or _CLIENT_ID + _CLIENT_SECRET (a client with a service account).
// Auth0:    PORTCULLIS_LIVE_AUTH0_DOMAIN, _AUDIENCE (the API Identifier), _CLIENT_ID, _CLIENT_SECRET
//   (a machine-to-machine application authorized for the API).
// Entra:    PORTCULLIS_LIVE_ENTRA_TENANT_ID, _AUDIENCE, _VERSION (1 or 2), _RESOURCE (the MCP URL),
//   _CLIENT_ID, _CLIENT_SECRET and _SCOPE (e.g. api://notes/.default).

interface Lane {
  name: string
  prefix: string
  required: string[]
  optional: string[]
  run(t: Tap, env: Record<string, string>): Promise<void>
}

/** Client credentials at a token endpoint (RFC 6749 §4.4), bounded in time. */
async function clientCredentials(tokenEndpoint: string, params: Record<string, string>): Promise<string> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }).toString(),
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await response.json()) as {
    access_token?: string
    error?: string
    error_description?: string
  }
  if (typeof body.access_token !== 'string') {
    throw new Error(
      `token endpoint answered ${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`,
    )
  }
  return body.access_token
}

/** The live checks: no error finding, and the token is accepted by the preset. */
async function check(t: Tap, preset: IdpPreset, resource: string, sampleToken: string) {
  const findings = await diagnose(preset, { resource, sampleToken, fetchTimeoutMs: 10_000 })
  for (const finding of findings) t.comment(`${finding.severity} ${finding.code}: ${finding.message}`)
  t.same(
    findings.filter((f) => f.severity === 'error').map((f) => `${f.code}: ${f.message} (fix: ${f.fix})`),
    [],
    'no error findings',
  )
  const auth = await preset.options.verifier.verifyAccessToken(sampleToken)
  t.ok(
    auth.extra?.iss !== undefined && preset.description.issuers.includes(auth.extra.iss),
    'accepted, from the issuer',
  )
}

const lanes: Lane[] = [
  {
    name: 'Keycloak',
    prefix: 'PORTCULLIS_LIVE_KEYCLOAK_',
    required: ['URL', 'REALM', 'AUDIENCE'],
    optional: ['TOKEN', 'CLIENT_ID', 'CLIENT_SECRET'],
    async run(t, env) {
      const preset = keycloak({ url: env.URL!, realm: env.REALM!, audience: env.AUDIENCE! })
      const token =
        env.TOKEN ??
        (await clientCredentials(`${preset.description.issuers[0]}/protocol/openid-connect/token`, {
          client_id: env.CLIENT_ID ?? '',
          client_secret: env.CLIENT_SECRET ?? '',
        }))
      await check(t, preset, env.AUDIENCE!, token)
    },
  },
  {
    name: 'Auth0',
    prefix: 'PORTCULLIS_LIVE_AUTH0_',
    required: ['DOMAIN', 'AUDIENCE', 'CLIENT_ID', 'CLIENT_SECRET'],
    optional: [],
    async run(t, env) {
      const preset = auth0({ domain: env.DOMAIN!, audience: env.AUDIENCE! })
      const token = await clientCredentials(`${preset.description.issuers[0]}oauth/token`, {
        client_id: env.CLIENT_ID!,
        client_secret: env.CLIENT_SECRET!,
        audience: env.AUDIENCE!,
      })
      await check(t, preset, env.AUDIENCE!, token)
    },
  },
  {
    name: 'Entra',
    prefix: 'PORTCULLIS_LIVE_ENTRA_',
    required: ['TENANT_ID', 'AUDIENCE', 'VERSION', 'RESOURCE', 'CLIENT_ID', 'CLIENT_SECRET', 'SCOPE'],
    optional: [],
    async run(t, env) {
      const preset = entra({
        tenantId: env.TENANT_ID!,
        // v1: the application ID and the App ID URI, comma-separated.
        audience: env.AUDIENCE!.split(','),
        version: env.VERSION === '1' ? 1 : 2,
      })
      const token = await clientCredentials(
        `https://login.microsoftonline.com/${env.TENANT_ID}/oauth2/v2.0/token`,
        { client_id: env.CLIENT_ID!, client_secret: env.CLIENT_SECRET!, scope: env.SCOPE! },
      )
      await check(t, preset, env.RESOURCE!, token)
    },
  },
]

for (const lane of lanes) {
  t.test(`live ${lane.name}`, async (t) => {
    const env: Record<string, string> = {}
    for (const name of [...lane.required, ...lane.optional]) {
      const value = process.env[`${lane.prefix}${name}`]
      if (value !== undefined && value !== '') env[name] = value
    }
    const missing = lane.required.filter((name) => env[name] === undefined).map((n) => `${lane.prefix}${n}`)
    const anySet = Object.keys(env).length > 0
    // A half-set lane is a mistake to report, not a reason to skip quietly.
    t.same(anySet ? missing : [], [], `the live ${lane.name} lane is fully configured or not at all`)
    if (missing.length > 0) {
      t.comment(
        `live ${lane.name} lane not run: set ${missing.join(', ')} to run it against a real ${lane.name}`,
      )
      return
    }
    await lane.run(t, env)
  })
}
