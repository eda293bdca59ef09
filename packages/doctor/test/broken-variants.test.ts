// Each way a deployment goes wrong, one at a time, against an otherwise correct deployment: the
// doctor names exactly that finding (and what follows from it), with a fix.
import t from 'tap'
import { type DoctorOptions, doctor } from '../src/doctor.js'
import { type Deployment, type Knobs, startDeployment } from './fixtures/deployment.js'

const notPassing = async (
  knobs: Knobs,
  options: (d: Deployment) => Promise<DoctorOptions> = async () => ({}),
) => {
  const deployment = await startDeployment(knobs)
  try {
    const report = await doctor(deployment.url, await options(deployment))
    for (const check of report.checks) {
      if (check.status === 'warn' || check.status === 'fail') {
        if (check.fix === undefined || check.fix.length < 20) throw new Error(`${check.id} has no useful fix`)
      }
    }
    return {
      report,
      ids: report.checks
        .filter((c) => c.status === 'warn' || c.status === 'fail')
        .map((c) => `${c.status} ${c.id}`),
    }
  } finally {
    await deployment.close()
  }
}

t.test('the unbroken deployment passes', async (t) => {
  const { ids, report } = await notPassing({}, async (d) => ({ token: await d.mint() }))
  t.same(ids, [])
  t.ok(report.ok)
})

const variants: [string, Knobs, string[]][] = [
  ['endpoint answers without a token', { unprotected: true }, ['fail challenge.status']],
  ['401 without a challenge', { challenge: () => undefined }, ['fail challenge.bearer']],
  ['401 with a malformed challenge', { challenge: () => 'Bearer realm="x' }, ['fail challenge.bearer']],
  [
    '401 without resource_metadata',
    { challenge: () => 'Bearer scope="notes:read"' },
    ['fail challenge.resource_metadata'],
  ],
  ['401 without scope', { challenge: (m) => `Bearer resource_metadata="${m}"` }, ['warn challenge.scope']],
  [
    '401 with an error code though no credentials were sent',
    { challenge: (m) => `Bearer error="invalid_token", resource_metadata="${m}", scope="notes:read"` },
    ['warn challenge.no_error'],
  ],
  [
    'challenge names a metadata URL that is not served',
    { challenge: (m) => `Bearer resource_metadata="${m}/missing", scope="notes:read"` },
    ['fail metadata.challenge_url'],
  ],
  [
    'metadata resource is another URL',
    { metadata: (doc) => ({ ...doc, resource: 'http://127.0.0.1:1/mcp' }) },
    ['fail metadata.resource'],
  ],
  [
    'metadata without authorization servers',
    { metadata: (doc) => ({ ...doc, authorization_servers: [] }) },
    ['fail metadata.authorization_servers'],
  ],
  [
    'metadata without scopes_supported',
    { metadata: ({ scopes_supported: _, ...doc }) => doc },
    ['warn metadata.scopes_supported'],
  ],
  [
    'metadata at the root only',
    {
      metadataAtRootOnly: true,
      challenge: () => 'Bearer scope="notes:read"',
    },
    ['fail challenge.resource_metadata', 'warn metadata.path_aware', 'warn metadata.root_fallback'],
  ],
  [
    'no CORS anywhere',
    { noCors: true },
    ['fail cors.metadata', 'fail cors.preflight', 'fail cors.challenge', 'warn as.cors'],
  ],
  [
    'preflight grants "*" headers, which leaves out Authorization',
    { wildcardAllowHeaders: true },
    ['fail cors.preflight'],
  ],
  ['WWW-Authenticate not exposed', { hideChallenge: true }, ['fail cors.challenge']],
  [
    'authorization server without S256',
    { asMetadata: (doc) => ({ ...doc, code_challenge_methods_supported: ['plain'] }) },
    ['fail as.pkce'],
  ],
  [
    'authorization server issuer with a trailing slash',
    { asMetadata: (doc) => ({ ...doc, issuer: `${doc.issuer}/` }) },
    ['fail as.issuer'],
  ],
  [
    'authorization server with neither CIMD nor DCR',
    { asMetadata: ({ registration_endpoint: _, ...doc }) => doc },
    ['warn as.registration'],
  ],
  [
    'authorization server without RFC 9207 iss',
    { asMetadata: ({ authorization_response_iss_parameter_supported: _, ...doc }) => doc },
    ['warn as.iss_parameter'],
  ],
  ['key set without usable keys', { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, ['fail as.jwks']],
  ['key set that is not a key set', { jwks: { nope: true } }, ['fail as.jwks']],
  [
    'authorization server without jwks_uri',
    { asMetadata: ({ jwks_uri: _, ...doc }) => doc },
    ['warn as.jwks'],
  ],
]

for (const [name, knobs, expected] of variants) {
  t.test(name, async (t) => {
    const { ids, report } = await notPassing(knobs)
    t.same(ids, expected)
    t.equal(report.ok, !expected.some((id) => id.startsWith('fail')))
  })
}

const tokenVariants: [string, (d: Deployment) => Promise<string>, string[], Knobs?][] = [
  [
    'token for another audience',
    (d) => d.mint({ aud: 'https://elsewhere.example/mcp' }),
    ['fail token.audience'],
  ],
  ['token typed JWT, not at+jwt', (d) => d.mint({}, { typ: 'JWT' }), ['warn token.typ']],
  ['token from an unlisted issuer', (d) => d.mint({ iss: 'https://other.example' }), ['fail token.issuer']],
  ['expired token', (d) => d.mint({ exp: Math.floor(Date.now() / 1000) - 60 }), ['fail token.expiry']],
  ['token without exp', (d) => d.mint({ exp: undefined }), ['fail token.expiry']],
  ['token without scopes', (d) => d.mint({ scope: undefined }), ['warn token.scopes']],
  [
    'tools/list refused with a step-up challenge',
    (d) => d.mint(),
    ['fail token.tools_list'],
    {
      refuseToolsList: {
        status: 403,
        challenge: 'Bearer error="insufficient_scope", scope="notes:read notes:write"',
      },
    },
  ],
  [
    'tools/list refused with a 403 that names no scope',
    (d) => d.mint(),
    ['fail token.tools_list'],
    { refuseToolsList: { status: 403, challenge: 'Bearer error="insufficient_scope"' } },
  ],
]

for (const [name, mint, expected, knobs] of tokenVariants) {
  t.test(name, async (t) => {
    const { ids, report } = await notPassing(knobs ?? {}, async (d) => ({ token: await mint(d) }))
    t.same(ids, expected)
    if (knobs?.refuseToolsList !== undefined) {
      const check = report.checks.find((c) => c.id === 'token.tools_list')
      if (knobs.refuseToolsList.challenge.includes('scope=')) {
        t.match(check?.message, /403; the challenge asks for scope "notes:read notes:write"/)
        t.match(check?.fix, /^Ask for notes:read notes:write/)
      } else {
        t.match(check?.fix, /names no scope/)
      }
    }
  })
}

t.test('the issuer mismatch says what differs', async (t) => {
  const { report } = await notPassing({ asMetadata: (doc) => ({ ...doc, issuer: `${doc.issuer}/` }) })
  t.match(report.checks.find((c) => c.id === 'as.issuer')?.message, /differ only by a trailing slash/)
})

t.test('options that make no sense are refused', async (t) => {
  await t.rejects(doctor('http://127.0.0.1:1/mcp', { browserOrigin: 'nope' }), /browserOrigin/)
  await t.rejects(doctor('http://127.0.0.1:1/mcp', { timeoutMs: 0 }), /timeoutMs/)
  const report = await doctor('http://example.com/mcp')
  t.equal(report.checks[0]?.id, 'target.url')
  t.match(report.checks[0]?.message, /https/)
})
