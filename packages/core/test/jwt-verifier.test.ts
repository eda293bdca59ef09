import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import {
  invalidToken,
  type JwtVerifierOptions,
  jwtVerifier,
  type KeySet,
  LruCache,
  type PortcullisError,
  scopeMapper,
  staticKeySet,
  temporarilyUnavailable,
  tokenFingerprint,
} from '@portcullis/core'
import { TokenCache } from '@portcullis/core/adapter'
import { loopbackServer, rejectionOf, sendJson } from '@portcullis/test-kit'
import { CompactSign, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import t from 'tap'

const ISSUER = 'https://as.example.com/realms/main'
const AUDIENCE = 'https://mcp.example.com/mcp'
const NOW = 1_800_000_000 // seconds; every verifier here runs on this clock
const clockMs = () => NOW * 1000

interface Signer {
  alg: string
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  jwk: JWK
}

/** Node KeyObjects, which jose accepts and which (unlike a CryptoKey) are not tied to one hash. */
async function signer(alg: string, kid: string, options: { jwkAlg?: string | false } = {}): Promise<Signer> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true })
  const privateObject = createPrivateKey({ key: (await exportJWK(privateKey)) as JsonWebKey, format: 'jwk' })
  const publicObject = createPublicKey(privateObject)
  const jwk: JWK = { ...(publicObject.export({ format: 'jwk' }) as JWK), kid }
  if (options.jwkAlg !== false) jwk.alg = options.jwkAlg ?? alg
  return { alg, kid, privateKey: privateObject, publicKey: publicObject, jwk }
}

const rs256 = await signer('RS256', 'rs256')
const ps256 = await signer('PS256', 'ps256')
const es256 = await signer('ES256', 'es256')
const es384 = await signer('ES384', 'es384')
const es512 = await signer('ES512', 'es512')
const eddsa = await signer('EdDSA', 'eddsa')
const rsNoAlg = await signer('RS256', 'rs-no-alg', { jwkAlg: false })
const stranger = await signer('RS256', 'rs256') // same kid as rs256, key not in the set

const allKeys = [rs256, ps256, es256, es384, es512, eddsa, rsNoAlg].map((s) => s.jwk)

const baseClaims = () => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'user-1',
  client_id: 'client-1',
  scope: 'notes:read notes:write',
  iat: NOW - 10,
  exp: NOW + 300,
  jti: 'jti-1',
})

interface MintOptions {
  signer?: Signer
  alg?: string
  header?: Record<string, unknown>
  claims?: Record<string, unknown>
  drop?: string[]
  /** Extensions jose may sign as critical. */
  crit?: Record<string, boolean>
}

async function mint(options: MintOptions = {}): Promise<string> {
  const s = options.signer ?? rs256
  const claims: Record<string, unknown> = { ...baseClaims(), ...options.claims }
  for (const name of options.drop ?? []) delete claims[name]
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? s.alg, kid: s.kid, typ: 'at+jwt', ...options.header })
    .sign(s.privateKey, options.crit === undefined ? undefined : { crit: options.crit })
}

/** Signs arbitrary payload bytes (for shapes SignJWT refuses to make). */
async function mintRaw(payload: string, header: Record<string, unknown> = {}, s: Signer = rs256) {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: s.alg, kid: s.kid, typ: 'at+jwt', ...header })
    .sign(s.privateKey)
}

const verifierWith = (options: Partial<JwtVerifierOptions> = {}) =>
  jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: allKeys, now: clockMs, cache: false, ...options })

const outcome = async (verifier: ReturnType<typeof jwtVerifier>, token: string) => {
  try {
    await verifier.verifyAccessToken(token)
    return 'ok'
  } catch (error) {
    const e = error as PortcullisError
    return e.name === 'PortcullisError' ? `${e.code}/${e.reason}` : `unexpected ${String(error)}`
  }
}

const hmacSecret = new TextEncoder().encode('a shared secret of thirty-two bytes!')
const rsaPublicPem = new TextEncoder().encode(
  rs256.publicKey.export({ format: 'pem', type: 'spki' }) as string,
)

/**
 * Each check, both ways: `bad` must fail with `reason`, and `twin` (differing only in what is
 * checked) must pass, so every failure is caused by the check named and nothing else.
 */
const matrix: {
  name: string
  reason: string
  bad: () => Promise<string>
  twin: () => Promise<string>
  options?: Partial<JwtVerifierOptions>
}[] = [
  // alg and keys
  {
    name: 'HS256 with a shared secret',
    reason: 'alg_not_allowed',
    bad: () => new SignJWT(baseClaims()).setProtectedHeader({ alg: 'HS256', kid: 'rs256' }).sign(hmacSecret),
    twin: () => mint(),
  },
  {
    name: 'HS256 keyed with the RSA public key (key confusion)',
    reason: 'alg_not_allowed',
    bad: () =>
      new SignJWT(baseClaims()).setProtectedHeader({ alg: 'HS256', kid: 'rs256' }).sign(rsaPublicPem),
    twin: () => mint(),
  },
  {
    name: 'alg none',
    reason: 'alg_not_allowed',
    bad: async () =>
      `${Buffer.from('{"alg":"none","kid":"rs256"}').toString('base64url')}.${(await mint()).split('.')[1]}.`,
    twin: () => mint(),
  },
  {
    name: 'alg outside a narrowed allow-list',
    reason: 'alg_not_allowed',
    options: { algorithms: ['RS256'] },
    bad: () => mint({ signer: es256 }),
    twin: () => mint(),
  },
  {
    name: 'alg other than the one the key is bound to',
    reason: 'key_unsuitable',
    bad: () => mint({ signer: { ...rs256, alg: 'RS384' } }),
    twin: () => mint(),
  },
  {
    name: 'RSA key without alg is bound to RS256 only',
    reason: 'key_unsuitable',
    bad: () => mint({ signer: { ...rsNoAlg, alg: 'PS256' } }),
    twin: () => mint({ signer: rsNoAlg }),
  },
  {
    name: 'unknown kid',
    reason: 'kid_unknown',
    bad: () => mint({ header: { kid: 'nobody' } }),
    twin: () => mint(),
  },
  {
    name: 'no kid while several keys fit',
    reason: 'kid_unknown',
    bad: () => mint({ signer: { ...rs256, kid: undefined as unknown as string } }),
    twin: () => mint({ signer: { ...es384, kid: undefined as unknown as string } }),
  },
  {
    name: 'signed by another key under a known kid',
    reason: 'signature_invalid',
    bad: () => mint({ signer: stranger }),
    twin: () => mint(),
  },
  {
    name: 'payload changed after signing',
    reason: 'signature_invalid',
    bad: async () => {
      const [h, , s] = (await mint()).split('.')
      const forged = Buffer.from(JSON.stringify({ ...baseClaims(), scope: 'admin' })).toString('base64url')
      return `${h}.${forged}.${s}`
    },
    twin: () => mint(),
  },
  {
    name: 'embedded jwk header is never trusted',
    reason: 'signature_invalid',
    bad: () => mint({ signer: stranger, header: { jwk: stranger.jwk } }),
    twin: () => mint({ header: { jwk: stranger.jwk } }),
  },
  {
    name: 'jku and x5u headers are never followed',
    reason: 'signature_invalid',
    bad: () =>
      mint({ signer: stranger, header: { jku: 'https://evil.example/jwks', x5u: 'https://evil.example/c' } }),
    twin: () => mint({ header: { jku: 'https://evil.example/jwks', x5u: 'https://evil.example/c' } }),
  },
  // header
  {
    name: 'critical extension',
    reason: 'crit_unsupported',
    bad: () =>
      mint({
        header: { crit: ['urn:example:ext'], 'urn:example:ext': 1 },
        crit: { 'urn:example:ext': true },
      }),
    twin: () => mint({ header: { 'urn:example:ext': 1 } }),
  },
  {
    name: 'b64 extension',
    reason: 'crit_unsupported',
    bad: () => mint({ header: { crit: ['b64'], b64: true } }),
    twin: () => mint({ header: { b64: true } }),
  },
  {
    name: 'typ of a logout token',
    reason: 'typ_invalid',
    bad: () => mint({ header: { typ: 'logout+jwt' } }),
    twin: () => mint({ header: { typ: 'JWT' } }),
  },
  {
    name: 'typ of a security event',
    reason: 'typ_invalid',
    bad: () => mint({ header: { typ: 'secevent+jwt' } }),
    twin: () => mint({ header: { typ: 'application/AT+JWT' } }),
  },
  {
    name: 'typ of an ID token',
    reason: 'typ_invalid',
    bad: () => mint({ header: { typ: 'id_token+jwt' } }),
    twin: () => mint({ header: { typ: undefined } }),
  },
  {
    name: 'strict typ refuses JWT',
    reason: 'typ_invalid',
    options: { typ: 'strict' },
    bad: () => mint({ header: { typ: 'JWT' } }),
    twin: () => mint({ header: { typ: 'at+jwt' } }),
  },
  {
    name: 'strict typ refuses a missing typ',
    reason: 'typ_invalid',
    options: { typ: 'strict' },
    bad: () => mint({ header: { typ: undefined } }),
    twin: () => mint({ header: { typ: 'application/at+jwt' } }),
  },
  {
    name: 'nested JWT',
    reason: 'token_nested',
    bad: () => mint({ header: { cty: 'JWT' } }),
    twin: () => mint({ header: { cty: 'json' } }),
  },
  {
    name: 'duplicate claim names under a valid signature',
    reason: 'token_malformed',
    bad: () =>
      mintRaw(`{"iss":"https://evil.example","iss":"${ISSUER}","aud":"${AUDIENCE}","exp":${NOW + 60}}`),
    twin: () => mintRaw(`{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":${NOW + 60}}`),
  },
  // issuer
  {
    name: 'foreign issuer',
    reason: 'issuer_mismatch',
    bad: () => mint({ claims: { iss: 'https://evil.example' } }),
    twin: () => mint(),
  },
  {
    name: 'issuer with a trailing slash (exact match)',
    reason: 'issuer_mismatch',
    bad: () => mint({ claims: { iss: `${ISSUER}/` } }),
    twin: () => mint({ claims: { iss: ISSUER } }),
  },
  { name: 'missing iss', reason: 'claim_missing', bad: () => mint({ drop: ['iss'] }), twin: () => mint() },
  // audience
  {
    name: 'foreign audience',
    reason: 'audience_mismatch',
    bad: () => mint({ claims: { aud: 'https://other.example.com/mcp' } }),
    twin: () => mint({ claims: { aud: ['https://other.example.com/mcp', AUDIENCE] } }),
  },
  {
    name: 'audience of a sibling path',
    reason: 'audience_mismatch',
    bad: () => mint({ claims: { aud: 'https://mcp.example.com/mcp2' } }),
    twin: () => mint({ claims: { aud: 'HTTPS://MCP.example.com:443/mcp/' } }),
  },
  { name: 'missing aud', reason: 'claim_missing', bad: () => mint({ drop: ['aud'] }), twin: () => mint() },
  // time
  {
    name: 'expired beyond the leeway',
    reason: 'token_expired',
    bad: () => mint({ claims: { exp: NOW - 60 } }),
    twin: () => mint({ claims: { exp: NOW - 59 } }),
  },
  {
    name: 'expired with zero leeway',
    reason: 'token_expired',
    options: { clockTolerance: 0 },
    bad: () => mint({ claims: { exp: NOW } }),
    twin: () => mint({ claims: { exp: NOW + 1 } }),
  },
  { name: 'missing exp', reason: 'claim_missing', bad: () => mint({ drop: ['exp'] }), twin: () => mint() },
  {
    name: 'not valid yet beyond the leeway',
    reason: 'token_not_yet_valid',
    bad: () => mint({ claims: { nbf: NOW + 61 } }),
    twin: () => mint({ claims: { nbf: NOW + 60 } }),
  },
  {
    name: 'issued in the future beyond the leeway',
    reason: 'issued_in_future',
    bad: () => mint({ claims: { iat: NOW + 61 } }),
    twin: () => mint({ claims: { iat: NOW + 60 } }),
  },
  // claim types
  ...(
    [
      ['exp', String(NOW + 300)],
      ['exp', null],
      ['nbf', 'yesterday'],
      ['iat', [NOW]],
      ['iss', 42],
      ['sub', { id: 1 }],
      ['aud', [AUDIENCE, 7]],
      ['aud', { url: AUDIENCE }],
      ['client_id', 5],
      ['azp', false],
      ['jti', 1],
    ] as const
  ).map(([claim, value]) => ({
    name: `${claim} of the wrong type (${JSON.stringify(value)})`,
    reason: 'claims_malformed',
    bad: () => mint({ claims: { [claim]: value } }),
    twin: () => mint(),
  })),
  {
    name: 'exp that is not finite',
    reason: 'claims_malformed',
    bad: () => mintRaw(`{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":1e999}`),
    twin: () => mintRaw(`{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":1.8e9}`),
  },
  {
    name: 'requiredClaims',
    reason: 'claim_missing',
    options: { requiredClaims: ['exp', 'sub', 'jti'] },
    bad: () => mint({ drop: ['jti'] }),
    twin: () => mint(),
  },
  // RFC 7800 cnf: a sender-constrained token is no Bearer token (RFC 9449 §6.1, RFC 8705 §3.1)
  {
    name: 'cnf.jkt (DPoP-bound)',
    reason: 'token_sender_constrained',
    bad: () => mint({ claims: { cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } } }),
    twin: () => mint(),
  },
  {
    name: 'cnf x5t#S256 (mTLS-bound)',
    reason: 'token_sender_constrained',
    bad: () => mint({ claims: { cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } } }),
    twin: () => mint(),
  },
  {
    name: 'cnf of another kind or malformed',
    reason: 'token_sender_constrained',
    bad: () => mint({ claims: { cnf: 'jwk' } }),
    twin: () => mint(),
  },
  // policy hook
  {
    name: 'validateClaims throwing a PortcullisError',
    reason: 'token_type_invalid',
    options: {
      validateClaims: (claims) => {
        if (claims.token_use !== 'access') throw invalidToken('token_type_invalid', 'not an access token')
      },
    },
    bad: () => mint({ claims: { token_use: 'id' } }),
    twin: () => mint({ claims: { token_use: 'access' } }),
  },
  {
    name: 'validateClaims throwing a plain Error',
    reason: 'claims_malformed',
    options: {
      validateClaims: (claims) => {
        if (claims.tenant !== 't1') throw new Error('wrong tenant')
      },
    },
    bad: () => mint({ claims: { tenant: 't2' } }),
    twin: () => mint({ claims: { tenant: 't1' } }),
  },
]

t.test('negative matrix: every check fails its bad token and passes its twin', async (t) => {
  for (const c of matrix) {
    const verifier = verifierWith(c.options)
    t.equal(await outcome(verifier, await c.bad()), `invalid_token/${c.reason}`, `${c.name}: rejected`)
    t.equal(await outcome(verifier, await c.twin()), 'ok', `${c.name}: twin accepted`)
  }
})

t.test('every supported algorithm verifies, through node:crypto', async (t) => {
  const verifier = verifierWith()
  for (const s of [rs256, ps256, es256, es384, es512, eddsa, rsNoAlg]) {
    t.equal(await outcome(verifier, await mint({ signer: s })), 'ok', s.alg)
    const token = await mint({ signer: s })
    const [h, p, sig] = token.split('.') as [string, string, string]
    const flipped = Buffer.from(sig, 'base64url')
    flipped[3] = (flipped[3] ?? 0) ^ 1
    t.equal(
      await outcome(verifier, `${h}.${p}.${flipped.toString('base64url')}`),
      'invalid_token/signature_invalid',
    )
  }
})

t.test('shape failures', async (t) => {
  const verifier = verifierWith({ maxTokenLength: 4096 })
  t.equal(await outcome(verifier, ''), 'invalid_token/token_malformed')
  t.equal(await outcome(verifier, 'opaque-token-value'), 'invalid_token/token_malformed')
  t.equal(await outcome(verifier, 'a.b.c.d.e'), 'invalid_token/token_encrypted')
  t.equal(await outcome(verifier, `${await mint()}.x`), 'invalid_token/token_malformed')
  t.equal(
    await outcome(verifier, await mint({ claims: { pad: 'x'.repeat(4096) } })),
    'invalid_token/token_too_large',
  )
  t.equal(await outcome(verifier, undefined as unknown as string), 'invalid_token/token_malformed')
})

t.test('AuthInfo', async (t) => {
  const verifier = verifierWith()
  const token = await mint({ claims: { scope: 'notes:read notes:write', client_id: 'c1', azp: 'ignored' } })
  const info = await verifier.verifyAccessToken(token)
  t.equal(info.token, token)
  t.equal(info.clientId, 'c1')
  t.same(info.scopes, ['notes:read', 'notes:write'])
  t.equal(info.expiresAt, NOW + 300)
  t.equal(info.resource?.href, 'https://mcp.example.com/mcp')
  t.equal(info.extra?.sub, 'user-1')
  t.equal(info.extra?.iss, ISSUER)
  t.equal(info.extra?.fingerprint, tokenFingerprint(token))
  t.equal((info.extra?.claims as Record<string, unknown> | undefined)?.jti, 'jti-1')
  t.ok(
    Object.isFrozen(info) && Object.isFrozen(info.extra) && Object.isFrozen(info.scopes),
    'shared, so frozen',
  )

  const azp = await verifier.verifyAccessToken(
    await mint({ drop: ['client_id'], claims: { azp: 'kc-client' } }),
  )
  t.equal(azp.clientId, 'kc-client', 'azp when there is no client_id')
  const none = await verifier.verifyAccessToken(await mint({ drop: ['client_id', 'scope', 'sub'] }))
  t.equal(none.clientId, '')
  t.same(none.scopes, [])
  t.equal(none.extra?.sub, undefined)
  const scp = await verifyWith({ scopeClaim: 'roles' }, await mint({ claims: { roles: ['Notes.Admin'] } }))
  t.same(scp.scopes, ['Notes.Admin'])

  const multi = verifierWith({ audience: ['api://notes', AUDIENCE] })
  t.equal(
    (await multi.verifyAccessToken(await mint({ claims: { aud: 'api://notes' } }))).resource,
    undefined,
    'an identifier that is no http(s) URL names no resource: the gate fills in its own',
  )
  t.equal((await multi.verifyAccessToken(await mint())).resource?.href, AUDIENCE)
  t.same(multi.audiences, ['api://notes', AUDIENCE])
})

const verifyWith = (options: Partial<JwtVerifierOptions>, token: string) =>
  verifierWith(options).verifyAccessToken(token)

t.test('audience: false hands the audience check to validateClaims', async (t) => {
  const verifier = verifierWith({
    audience: false,
    validateClaims: (claims) => {
      if (claims.client_id !== 'client-1') throw new Error('client not allowed')
    },
  })
  t.equal(await outcome(verifier, await mint({ drop: ['aud'] })), 'ok')
  t.equal(
    await outcome(verifier, await mint({ drop: ['aud'], claims: { client_id: 'x' } })),
    'invalid_token/claims_malformed',
  )
  t.equal((await verifier.verifyAccessToken(await mint())).resource, undefined)
})

t.test('audienceClaim: client_id / azp bind the token to allowed clients (tokens without aud)', async (t) => {
  const cognito = verifierWith({ audience: ['client-1', 'client-2'], audienceClaim: 'client_id' })
  t.equal(cognito.audienceClaim, 'client_id')
  t.same(cognito.audiences, ['client-1', 'client-2'])
  const info = await cognito.verifyAccessToken(await mint({ drop: ['aud'] }))
  t.equal(info.resource, undefined, 'no resource: the token is bound to a client, not a URL')
  t.equal(await outcome(cognito, await mint({ drop: ['aud'], claims: { client_id: 'client-2' } })), 'ok')
  t.equal(
    await outcome(cognito, await mint({ drop: ['aud'], claims: { client_id: 'client-3' } })),
    'invalid_token/audience_mismatch',
  )
  t.equal(await outcome(cognito, await mint({ drop: ['aud', 'client_id'] })), 'invalid_token/claim_missing')
  t.equal(
    await outcome(cognito, await mint({ drop: ['aud'], claims: { client_id: 'CLIENT-1' } })),
    'invalid_token/audience_mismatch',
    'client ids compare exactly',
  )
  // RFC 8707 §2: an aud on a client-bound token names the resource it is for (Cognito resource binding).
  const bound = await cognito.verifyAccessToken(await mint({ claims: { aud: `${AUDIENCE}/` } }))
  t.equal(bound.resource?.href, AUDIENCE, 'aud names the resource: the gate compares it with its own')
  t.equal(
    (await cognito.verifyAccessToken(await mint({ claims: { aud: 'https://other.example.com/api' } })))
      .resource?.href,
    'https://other.example.com/api',
    'a foreign resource is reported, for the gate to refuse',
  )
  for (const aud of ['notes-api', ['https://a.example.com', 'https://b.example.com']]) {
    t.equal(
      await outcome(cognito, await mint({ claims: { aud } })),
      'invalid_token/audience_mismatch',
      `aud ${JSON.stringify(aud)} names no single resource`,
    )
  }
  const listed = verifierWith({
    audience: ['client-1'],
    audienceClaim: 'client_id',
    audienceIfPresent: ['notes-api', AUDIENCE],
  })
  t.equal(await outcome(listed, await mint({ drop: ['aud'] })), 'ok', 'no aud: the client_id rule alone')
  t.equal((await listed.verifyAccessToken(await mint({ claims: { aud: 'notes-api' } }))).resource, undefined)
  t.equal((await listed.verifyAccessToken(await mint())).resource?.href, AUDIENCE)
  t.equal(
    await outcome(listed, await mint({ claims: { aud: 'https://other.example.com/api' } })),
    'invalid_token/audience_mismatch',
    'an aud not listed',
  )
  t.throws(
    () =>
      verifierWith({ audienceClaim: 'client_id', audience: 'client-1', audienceIfPresent: false as never }),
    /option "audienceIfPresent": must be an audience or a list/,
  )
  const azp = verifierWith({ audience: 'kc-client', audienceClaim: 'azp' })
  t.equal(await outcome(azp, await mint({ claims: { aud: 'account', azp: 'kc-client' } })), 'ok')
  t.equal(
    await outcome(azp, await mint({ claims: { azp: 'other' } })),
    'invalid_token/audience_mismatch',
    'an aud naming this resource does not stand in for the client',
  )
  t.throws(
    () =>
      jwtVerifier({
        issuer: ISSUER,
        audience: false,
        audienceClaim: 'azp',
        keys: allKeys,
        validateClaims() {},
      }),
    /audienceClaim names the claim/,
  )
})

t.test('claimsToScopes and clientIdClaims shape the AuthInfo', async (t) => {
  const verifier = verifierWith({
    claimsToScopes: scopeMapper({
      scopeClaims: ['scope'],
      roleClaims: ['realm_access.roles'],
      roles: { 'mcp-admin': ['notes:admin'] },
    }),
    clientIdClaims: ['cid'],
  })
  const info = await verifier.verifyAccessToken(
    await mint({
      claims: { scope: 'notes:read', realm_access: { roles: ['mcp-admin', 'other'] }, cid: 'okta-app' },
    }),
  )
  t.same(info.scopes, ['notes:read', 'notes:admin'])
  t.equal(info.clientId, 'okta-app', 'from the named claim, not client_id')
  const failing = verifierWith({
    claimsToScopes: () => {
      throw new Error('boom')
    },
  })
  t.equal(await outcome(failing, await mint()), 'invalid_token/claims_malformed')
  t.throws(
    () => verifierWith({ scopeClaim: 'scp', claimsToScopes: () => [] }),
    /scopeClaim or claimsToScopes/,
  )
})

/** A key set that counts lookups and can be told to fail. */
function countingKeySet(inner: KeySet) {
  const state = { lookups: 0, fail: undefined as Error | undefined }
  const keySet: KeySet = {
    getKey: async (header) => {
      state.lookups++
      if (state.fail !== undefined) throw state.fail
      return inner.getKey(header)
    },
    status: () => inner.status(),
  }
  return { keySet, state }
}

t.test('verified-token cache', async (t) => {
  let nowMs = NOW * 1000
  const { keySet, state } = countingKeySet(staticKeySet(allKeys))
  const verifier = jwtVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keySet,
    now: () => nowMs,
    cache: { maxEntries: 3, maxTtl: 120, negativeTtl: 5 },
  })
  const token = await mint({ claims: { exp: NOW + 100 } })
  const first = await verifier.verifyAccessToken(token)
  const second = await verifier.verifyAccessToken(token)
  t.equal(state.lookups, 1, 'a hit costs no key lookup and no signature check')
  t.equal(second, first)

  // Concurrent first sightings share one verification.
  const fresh = await mint({ claims: { jti: 'concurrent' } })
  await Promise.all(Array.from({ length: 10 }, () => verifier.verifyAccessToken(fresh)))
  t.equal(state.lookups, 2)

  // A hit re-checks exp: past exp + leeway the cached answer is void.
  nowMs = (NOW + 100 + 60) * 1000
  t.equal(await outcome(verifier, token), 'invalid_token/token_expired')
  t.equal(state.lookups, 3)

  // A replayed bad token costs no crypto within negativeTtl...
  nowMs = NOW * 1000
  const forged = await mint({ signer: stranger })
  t.equal(await outcome(verifier, forged), 'invalid_token/signature_invalid')
  t.equal(await outcome(verifier, forged), 'invalid_token/signature_invalid')
  t.equal(state.lookups, 4, 'failure remembered')
  nowMs += 5001
  t.equal(await outcome(verifier, forged), 'invalid_token/signature_invalid')
  t.equal(state.lookups, 5, '...and is checked again after it')

  // ...but an outage is never remembered.
  const during = await mint({ claims: { jti: 'outage' } })
  state.fail = temporarilyUnavailable('jwks_unavailable', 'down')
  t.equal(await outcome(verifier, during), 'temporarily_unavailable/jwks_unavailable')
  state.fail = undefined
  t.equal(await outcome(verifier, during), 'ok', 'verified as soon as keys are back')

  // maxTtl bounds a long-lived token.
  const longLived = await mint({ claims: { exp: NOW + 100_000, jti: 'long' } })
  await verifier.verifyAccessToken(longLived)
  const lookups = state.lookups
  nowMs += 119_000
  await verifier.verifyAccessToken(longLived)
  t.equal(state.lookups, lookups, 'within maxTtl: hit')
  nowMs += 2000
  await verifier.verifyAccessToken(longLived)
  t.equal(state.lookups, lookups + 1, 'past maxTtl: verified again')

  // Bounded: maxEntries 3.
  const tokens = await Promise.all([1, 2, 3, 4].map((i) => mint({ claims: { jti: `b${i}` } })))
  for (const tk of tokens) await verifier.verifyAccessToken(tk)
  const before = state.lookups
  await verifier.verifyAccessToken(tokens[0] as string)
  t.equal(state.lookups, before + 1, 'the least recently used entry was dropped')

  verifier.clearCache()
  await verifier.verifyAccessToken(tokens[3] as string)
  t.equal(state.lookups, before + 2, 'clearCache forgets everything')

  const key = TokenCache.keyOf(token)
  t.equal(key.length, 43, 'keys are SHA-256 digests')
  t.notOk(token.includes(key) || key.includes(token.slice(0, 20)))
})

t.test('refused algorithms and header shapes never reach the key set', async (t) => {
  const { keySet, state } = countingKeySet(staticKeySet(allKeys))
  const verifier = jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, keySet, now: clockMs, cache: false })
  const hs256 = await new SignJWT(baseClaims())
    .setProtectedHeader({ alg: 'HS256', kid: 'rs256' })
    .sign(rsaPublicPem)
  t.equal(await outcome(verifier, hs256), 'invalid_token/alg_not_allowed')
  t.equal(await outcome(verifier, await mint({ header: { typ: 'logout+jwt' } })), 'invalid_token/typ_invalid')
  t.equal(
    await outcome(verifier, await mint({ header: { crit: ['b64'], b64: true } })),
    'invalid_token/crit_unsupported',
  )
  t.equal(state.lookups, 0, 'no key lookup for any of them')
  t.equal(await outcome(verifier, await mint()), 'ok')
  t.equal(state.lookups, 1)
})

t.test('cache: false verifies every time', async (t) => {
  const { keySet, state } = countingKeySet(staticKeySet(allKeys))
  const verifier = jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, keySet, now: clockMs, cache: false })
  const token = await mint()
  await verifier.verifyAccessToken(token)
  await verifier.verifyAccessToken(token)
  t.equal(state.lookups, 2)
})

t.test('options are validated at creation, naming the option', async (t) => {
  const base = { issuer: ISSUER, audience: AUDIENCE, keys: allKeys }
  t.throws(
    () => jwtVerifier({ ...base, algorithms: ['RS256', 'HS256'] as never }),
    /option "algorithms.1": HS256 is refused/,
  )
  t.throws(
    () => jwtVerifier({ ...base, algorithms: ['none'] as never }),
    /option "algorithms.0": none is refused/,
  )
  t.throws(() => jwtVerifier({ ...base, algorithms: ['RSA-OAEP'] as never }), /not supported/)
  t.throws(() => jwtVerifier({ ...base, algorithms: [] }), /option "algorithms"/)
  t.throws(() => jwtVerifier({ ...base, issuer: '' }), /option "issuer"/)
  t.throws(() => jwtVerifier({ ...base, audience: 'http://mcp.example.com/mcp' }), /option "audience".*https/)
  t.throws(() => jwtVerifier({ ...base, audience: [] }), /option "audience"/)
  t.throws(() => jwtVerifier({ ...base, audience: false }), /audience: false needs validateClaims/)
  t.throws(() => jwtVerifier({ ...base, clockTolerance: -1 }), /option "clockTolerance"/)
  t.throws(() => jwtVerifier({ ...base, typ: 'loose' as never }), /option "typ"/)
  t.throws(() => jwtVerifier({ ...base, cache: { maxEntries: 0 } }), /option "cache.maxEntries"/)
  t.throws(
    () => jwtVerifier({ ...base, jwksUri: 'https://as.example.com/jwks' }),
    /at most one of jwksUri, keys/,
  )
  t.throws(() => jwtVerifier({ ...base, audiance: AUDIENCE } as never), /audiance/)
  t.throws(
    () => jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { cooldown: -5 } }),
    /jwtVerifier: option "jwks": option "cooldown"/,
    'key set options are checked at creation even when the jwks_uri comes from discovery',
  )
  t.throws(() => jwtVerifier({ ...base, keys: [{ kty: 'oct', k: 'AAAA' }] }), /symmetric/)
  t.throws(() => jwtVerifier({ ...base, keys: undefined, jwksUri: 'http://as.example.com/jwks' }), /https/)
  t.same(jwtVerifier({ ...base, audience: 'HTTPS://MCP.example.com/mcp/' }).audiences, [AUDIENCE])
})

t.test('keys from a JWKS endpoint found by discovery, on first use', async (t) => {
  const keys = { keys: [rs256.jwk] }
  const server = await loopbackServer((req, res) => {
    if (req.url === '/.well-known/oauth-authorization-server/realms/main') {
      sendJson(res, 200, { issuer: `${server.origin}/realms/main`, jwks_uri: `${server.origin}/jwks` })
    } else if (req.url === '/jwks') sendJson(res, 200, keys)
    else sendJson(res, 404, {})
  })
  t.teardown(() => server.close())
  const issuer = `${server.origin}/realms/main`
  const verifier = jwtVerifier({
    issuer,
    audience: AUDIENCE,
    now: clockMs,
    discovery: { cache: new LruCache({ maxEntries: 10 }) },
  })
  t.equal(server.count(), 0, 'nothing fetched at creation')
  t.equal(verifier.keySet.status().keys, 0)
  const tokens = await Promise.all([1, 2, 3].map((i) => mint({ claims: { iss: issuer, jti: `d${i}` } })))
  const infos = await Promise.all(tokens.map((tk) => verifier.verifyAccessToken(tk)))
  t.equal(infos.length, 3)
  t.equal(server.count('/.well-known/oauth-authorization-server/realms/main'), 1, 'one discovery')
  t.equal(server.count('/jwks'), 1, 'one key set fetch')
  t.equal(verifier.keySet.status().keys, 1)
  // A token carrying jku pointing at this server: the URL is never fetched.
  const jku = await mint({ claims: { iss: issuer }, header: { jku: `${server.origin}/evil-jwks` } })
  await verifier.verifyAccessToken(jku)
  t.equal(server.count('/evil-jwks'), 0, 'jku ignored')
})

t.test('metadata without jwks_uri is an outage, not a token failure', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 200, { issuer: `${server.origin}` }))
  t.teardown(() => server.close())
  const verifier = jwtVerifier({
    issuer: server.origin,
    audience: AUDIENCE,
    now: clockMs,
    discovery: { cache: new LruCache({ maxEntries: 10 }) },
  })
  const error = (await rejectionOf(
    verifier.verifyAccessToken(await mint({ claims: { iss: server.origin } })),
  )) as PortcullisError
  t.equal(`${error.code}/${error.reason}`, 'temporarily_unavailable/discovery_failed')
  t.match(error.message, /jwks_uri/)
})

t.test('static keys may be KeyObjects', async (t) => {
  const verifier = verifierWith({
    keys: [{ key: es256.publicKey, kid: 'es256' }],
  })
  t.equal(await outcome(verifier, await mint({ signer: es256 })), 'ok')
  t.equal(await outcome(verifier, await mint()), 'invalid_token/kid_unknown')
})

t.test('signatureCheck: the thread pool and the event loop give the same verdicts', async (t) => {
  for (const signatureCheck of ['thread-pool', 'event-loop'] as const) {
    const verifier = verifierWith({ signatureCheck })
    for (const c of matrix) {
      const checking = c.options === undefined ? verifier : verifierWith({ ...c.options, signatureCheck })
      t.equal(
        await outcome(checking, await c.bad()),
        `invalid_token/${c.reason}`,
        `${signatureCheck}: ${c.name}`,
      )
    }
    for (const s of [rs256, ps256, es256, es384, es512, eddsa]) {
      const token = await mint({ signer: s })
      t.equal(await outcome(verifier, token), 'ok', `${signatureCheck}: ${s.alg}`)
      const [h, p, sig] = token.split('.') as [string, string, string]
      const flipped = Buffer.from(sig, 'base64url')
      flipped[5] = (flipped[5] ?? 0) ^ 1
      const forged = `${h}.${p}.${flipped.toString('base64url')}`
      t.equal(
        await outcome(verifier, forged),
        'invalid_token/signature_invalid',
        `${signatureCheck}: forged ${s.alg}`,
      )
      const short = `${h}.${p}.${flipped.subarray(0, 10).toString('base64url')}`
      t.equal(
        await outcome(verifier, short),
        'invalid_token/signature_invalid',
        `${signatureCheck}: short ${s.alg}`,
      )
    }
  }
  t.throws(() => verifierWith({ signatureCheck: 'worker' as never }), /option "signatureCheck"/)
})

t.test('signatureCheck: a key set without verifyOnThreadPool is verified on the event loop', async (t) => {
  const keys = staticKeySet([es256.jwk as JsonWebKey])
  let onPool = 0
  const keySet: KeySet = {
    status: () => keys.status(),
    getKey: async (header) => {
      const key = await keys.getKey(header)
      onPool += key.verifyOnThreadPool === undefined ? 0 : 1
      return { kid: key.kid, alg: key.alg, key: key.key, verify: key.verify }
    },
  }
  const verifier = jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, keySet, now: clockMs, cache: false })
  t.equal(await outcome(verifier, await mint({ signer: es256 })), 'ok')
  t.equal(onPool, 1, 'the built-in key set offers the thread pool')
})

t.test('cachedOutcome answers a remembered token at once, with its fingerprint', async (t) => {
  let clock = clockMs()
  const verifier = jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: allKeys, now: () => clock })
  const token = await mint()
  t.equal(verifier.cachedOutcome(token), undefined, 'nothing before the first verification')
  await verifier.verifyAccessToken(token)
  const hit = verifier.cachedOutcome(token)
  t.equal(hit?.authInfo?.clientId, 'client-1')
  t.equal(hit?.fingerprint, tokenFingerprint(token))
  t.equal(hit?.authInfo?.extra?.fingerprint, tokenFingerprint(token))
  clock = (NOW + 300 + 60) * 1000
  t.equal(verifier.cachedOutcome(token), undefined, 'void once exp plus leeway has passed')

  const forged = `${token.slice(0, -4)}AAAA`
  await t.rejects(verifier.verifyAccessToken(forged))
  t.equal(verifier.cachedOutcome(forged)?.error?.reason, 'signature_invalid', 'a refusal is remembered too')
  t.equal(verifierWith().cachedOutcome(token), undefined, 'never with cache: false')
  t.equal(verifier.cachedOutcome(42 as never), undefined)
})
