import {
  audienceMatches,
  canonicalResource,
  createGate,
  jwtVerifier,
  PortcullisError,
  parseChallenges,
} from '@portcullis/core'
import { bearerChallenge, readBearer } from '@portcullis/core/adapter'
import { tokenSigner } from '@portcullis/test-kit'
import fc from 'fast-check'
import t from 'tap'

// Properties of the rules that face untrusted input, checked on generated input (fast-check).
// Each property runs in a few seconds; a failure prints the seed and the shrunk counterexample.

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/
const TOKEN68_CHARS = 'ABCXYZabcxyz0189-._~+/'
const ODD_CHARS = ' \t=,;:"\\\u0000\u0001\u007f\u0080\u00a0é€😀\r\n'

/** Characters a header might hold: token68 ones, separators, controls and non-ASCII. */
const headerChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKEN68_CHARS) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_CHARS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
)
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength })
const schemeCase = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR')

const throwsOnlyPortcullisErrors = (fn: () => unknown): boolean => {
  try {
    fn()
    return true
  } catch (error) {
    return error instanceof PortcullisError
  }
}

t.test('readBearer never throws anything but a PortcullisError', async (t) => {
  const header = fc.oneof(
    headerText(64),
    fc.tuple(schemeCase, headerText(64)).map(([scheme, rest]) => `${scheme} ${rest}`),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ unit: 'binary', minLength: 8500, maxLength: 9000 }),
  )
  const authorization = fc.oneof(fc.constant(undefined), header, fc.array(header, { maxLength: 3 }))
  const bodyToken = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.string(),
    fc.integer(),
    fc.object(),
  )
  fc.assert(
    fc.property(authorization, bodyToken, (authorization, bodyToken) =>
      throwsOnlyPortcullisErrors(() => readBearer({ authorization, bodyToken })),
    ),
    { numRuns: 5000 },
  )
  t.pass('5000 headers')
})

t.test('readBearer accepts exactly an RFC 6750 b64token (RFC 9110 token68) after Bearer', async (t) => {
  const maxTokenLength = 64
  let accepted = 0
  fc.assert(
    fc.property(schemeCase, headerText(120), (scheme, credential) => {
      const header = `${scheme} ${credential}`
      // The model: 1*SP after the scheme, SP/HTAB trimmed at the end (RFC 9110 §5.5), then one
      // token68 within the limit; a header more than 256 characters over the limit is too large.
      const token = credential.replace(/^ +/, '').replace(/[ \t]+$/, '')
      const acceptable =
        TOKEN68.test(token) && token.length <= maxTokenLength && header.length <= maxTokenLength + 256
      let result: ReturnType<typeof readBearer> | PortcullisError
      try {
        result = readBearer({ authorization: header, maxTokenLength })
      } catch (error) {
        if (!(error instanceof PortcullisError)) throw error
        result = error
      }
      if (acceptable) {
        accepted++
        return !(result instanceof PortcullisError) && result.token === token
      }
      // Refused: an error of the request or the token, never "no credentials" for a Bearer header.
      return (
        result instanceof PortcullisError && ['header_malformed', 'token_too_large'].includes(result.reason)
      )
    }),
    { numRuns: 20_000 },
  )
  t.ok(accepted > 2000, `both sides of the grammar were tried (${accepted} of 20000 accepted)`)
})

t.test('readBearer never reads a token out of another scheme', async (t) => {
  const otherScheme = fc
    .stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/)
    .filter((scheme) => scheme.toLowerCase() !== 'bearer')
  fc.assert(
    fc.property(otherScheme, headerText(64), (scheme, rest) => {
      const result = readBearer({ authorization: `${scheme} ${rest}` })
      return result.token === undefined && result.reason === 'scheme_unsupported'
    }),
    { numRuns: 5000 },
  )
  t.pass('5000 other schemes')
})

t.test('the gate answers any header with 400 or 401 and a challenge the strict parser reads', async (t) => {
  const gate = createGate({
    resource: 'https://mcp.example.test/mcp',
    authorizationServers: ['https://idp.example.test'],
    // Tokens never verify here: the property is about what reaches the verifier and what comes back.
    verifier: {
      verifyAccessToken: async () => {
        throw new PortcullisError('invalid_token', 'signature_invalid', 'signature does not verify')
      },
    },
    scopes: { base: ['notes:read'] },
  })
  const header = fc.oneof(
    headerText(80),
    fc.tuple(schemeCase, headerText(80)).map(([scheme, rest]) => `${scheme} ${rest}`),
    fc.string({ unit: 'binary', maxLength: 120 }),
  )
  await fc.assert(
    fc.asyncProperty(fc.oneof(header, fc.array(header, { maxLength: 3 })), async (authorization) => {
      const result = await gate.authenticate({ authorization })
      if (result.ok) return false
      const { status, headers } = result.reply
      if (status !== 400 && status !== 401) return false
      const [challenge, ...more] = parseChallenges(headers['WWW-Authenticate'] ?? '')
      return (
        more.length === 0 &&
        challenge?.scheme === 'Bearer' &&
        challenge.params.resource_metadata === gate.metadataUrl &&
        (status === 400) === (challenge.params.error === 'invalid_request')
      )
    }),
    { numRuns: 5000 },
  )
  t.pass('5000 gate answers')
})

// RFC 6749 §3.3 scope-token and RFC 6750 §3 error / realm characters.
const scopeToken = fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,12}$/)
const errorText = fc.stringMatching(/^[\x20\x21\x23-\x5B\x5D-\x7E]{1,24}$/)

t.test('bearerChallenge: every value it builds parses back to the same parameters', async (t) => {
  const params = fc.record(
    {
      realm: errorText,
      error: fc.oneof(fc.constantFrom('invalid_request', 'invalid_token', 'insufficient_scope'), errorText),
      errorDescription: fc.string({ unit: 'binary', maxLength: 700 }),
      scope: fc.array(fc.oneof(scopeToken, fc.constant('offline_access')), { maxLength: 8 }),
      resourceMetadata: fc.webUrl({ withQueryParameters: true }).filter((url) => !/["\\ ]/.test(url)),
    },
    { requiredKeys: [] },
  )
  fc.assert(
    fc.property(params, (input) => {
      let built: string
      try {
        built = bearerChallenge(input)
      } catch (error) {
        // Only a challenge with nothing to say is refused.
        const emptyScope = (input.scope ?? []).every((scope) => scope === 'offline_access')
        const nothing =
          input.realm === undefined &&
          input.error === undefined &&
          input.resourceMetadata === undefined &&
          emptyScope
        return error instanceof TypeError && nothing
      }
      const [challenge, ...more] = parseChallenges(built)
      if (more.length > 0 || challenge?.scheme !== 'Bearer') return false
      const parsed = challenge.params
      const scopes = [...new Set((input.scope ?? []).filter((scope) => scope !== 'offline_access'))]
      const description = parsed.error_description
      return (
        parsed.realm === input.realm &&
        parsed.error === input.error &&
        parsed.resource_metadata === input.resourceMetadata &&
        parsed.scope === (scopes.length === 0 ? undefined : scopes.join(' ')) &&
        // The description is made safe, never refused: RFC 6750 §3 characters only, bounded, and
        // unchanged when it was safe already.
        (description === undefined || /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(description)) &&
        (description === undefined || description.length <= 512) &&
        (!isSafeDescription(input.errorDescription) || description === input.errorDescription)
      )
    }),
    { numRuns: 5000 },
  )
  t.pass('5000 challenges')
})

const isSafeDescription = (value: string | undefined) =>
  value !== undefined &&
  value.length > 0 &&
  value.length <= 512 &&
  value === value.trim() &&
  /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(value)

// The query is kept as sent (`https://a.example?/` ends in "/"); the path never keeps a trailing slash.
const pathEndsInSlash = (url: string) => (url.split('?')[0] ?? '').endsWith('/')

/** A resource URL and spellings of the same resource (case, default port, trailing slashes). */
const resourceSpellings = fc
  .record({
    loopback: fc.boolean(),
    host: fc.domain(),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    path: fc.array(fc.webSegment(), { maxLength: 4 }),
    query: fc.option(fc.webQueryParameters(), { nil: undefined }),
    slashes: fc.integer({ min: 0, max: 3 }),
    upper: fc.boolean(),
    defaultPort: fc.boolean(),
  })
  .map((r) => {
    const scheme = r.loopback ? 'http' : 'https'
    const host = r.loopback ? '127.0.0.1' : r.host
    const port = r.port === undefined ? '' : `:${r.port}`
    const path = r.path.length === 0 ? '' : `/${r.path.join('/')}`
    const query = r.query === undefined ? '' : `?${r.query}`
    const base = `${scheme}://${host}${port}${path}${query}`
    const variantPort = r.port === undefined && r.defaultPort ? (r.loopback ? ':80' : ':443') : port
    const variant = `${r.upper ? scheme.toUpperCase() : scheme}://${r.upper ? host.toUpperCase() : host}${variantPort}${path}${'/'.repeat(r.slashes)}${query}`
    return { base, variant }
  })

t.test('canonicalResource is idempotent and maps equal URLs to one form', async (t) => {
  fc.assert(
    fc.property(resourceSpellings, ({ base, variant }) => {
      const canonical = canonicalResource(base)
      return (
        canonicalResource(canonical) === canonical &&
        !pathEndsInSlash(canonical) &&
        canonicalResource(variant) === canonical &&
        audienceMatches(variant, [canonical]) &&
        audienceMatches([`${canonical}/other`, variant], [canonical])
      )
    }),
    { numRuns: 5000 },
  )
  t.pass('5000 resources')
})

t.test('canonicalResource on any string: a canonical form or a TypeError, and idempotent', async (t) => {
  const input = fc.oneof(
    { weight: 3, arbitrary: fc.webUrl({ validSchemes: ['https'], withQueryParameters: true }) },
    fc.webUrl({ validSchemes: ['https', 'http', 'ftp'], withQueryParameters: true, withFragments: true }),
    fc.webUrl({ authoritySettings: { withUserInfo: true, withPort: true, withIPv4: true, withIPv6: true } }),
    fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `https://${s}`),
    fc.string({ unit: headerChar, maxLength: 40 }),
  )
  let canonicalised = 0
  fc.assert(
    fc.property(input, (url) => {
      let canonical: string
      try {
        canonical = canonicalResource(url)
      } catch (error) {
        return error instanceof TypeError
      }
      canonicalised++
      return (
        canonicalResource(canonical) === canonical && !canonical.includes('#') && !pathEndsInSlash(canonical)
      )
    }),
    { numRuns: 4000 },
  )
  t.ok(canonicalised > 1000, `a good share of the inputs were resources (${canonicalised})`)
})

// ---------------------------------------------------------------- token mutation

const ISSUER = 'https://idp.example.test'
const RESOURCE = 'https://mcp.example.test/mcp'
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

type Mutation =
  | { kind: 'replace'; at: number; char: string }
  | { kind: 'insert'; at: number; char: string }
  | { kind: 'delete'; at: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'parts'; order: [number, number, number] }
  | { kind: 'graft'; part: number }

function mutate(token: string, other: string, m: Mutation): string {
  const at = (n: number) => n % token.length
  switch (m.kind) {
    case 'replace':
      return token.slice(0, at(m.at)) + m.char + token.slice(at(m.at) + 1)
    case 'insert':
      return token.slice(0, at(m.at)) + m.char + token.slice(at(m.at))
    case 'delete':
      return token.slice(0, at(m.at)) + token.slice(at(m.at) + 1)
    case 'flip': {
      // One bit of the decoded bytes of a part, re-encoded: a well-formed token with one byte changed.
      const parts = token.split('.')
      const index = m.at % 3
      const bytes = Buffer.from(parts[index]!, 'base64url')
      if (bytes.length === 0) return token
      const byte = Math.floor(m.at / 3) % bytes.length
      bytes[byte] = bytes[byte]! ^ (1 << m.bit)
      parts[index] = bytes.toString('base64url')
      return parts.join('.')
    }
    case 'parts': {
      const parts = token.split('.')
      return m.order.map((i) => parts[i]).join('.')
    }
    case 'graft': {
      // One part taken from another valid token of the same issuer and key.
      const parts = token.split('.')
      parts[m.part] = other.split('.')[m.part]!
      return parts.join('.')
    }
  }
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('replace' as const),
    at: fc.nat(),
    char: fc.oneof(
      fc.constantFrom(...B64URL, '.', '='),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    char: fc.oneof(
      fc.constantFrom(...B64URL, '.', '='),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('parts' as const),
    order: fc.tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
    ),
  }),
  fc.record({ kind: fc.constant('graft' as const), part: fc.integer({ min: 0, max: 2 }) }),
)

for (const alg of ['ES256', 'RS256'] as const) {
  t.test(`no mutation of a valid ${alg} token is ever accepted by jwtVerifier`, async (t) => {
    const signer = await tokenSigner({
      alg,
      kid: 'k1',
      lifetime: 600,
      claims: { iss: ISSUER, aud: RESOURCE, scope: 'notes:read', client_id: 'c' },
    })
    const verifier = jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [signer.publicJwk],
      cache: false,
    })
    const mint = (sub: string) => signer.mint({ sub })
    const token = await mint('alice')
    // Another valid token whose header is byte-identical and whose payload and signature differ.
    const other = await mint('bob')
    t.equal((await verifier.verifyAccessToken(token)).extra?.sub, 'alice', 'the original verifies')
    t.equal((await verifier.verifyAccessToken(other)).extra?.sub, 'bob', 'so does the other')

    let tried = 0
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const mutated = mutate(token, other, m)
        if (mutated === token || mutated === other) return true
        tried++
        try {
          await verifier.verifyAccessToken(mutated)
          return false
        } catch (error) {
          return error instanceof PortcullisError && error.code === 'invalid_token'
        }
      }),
      { numRuns: alg === 'RS256' ? 5000 : 10_000 },
    )
    t.ok(tried > 4000, `${tried} distinct mutated tokens refused`)
  })
}
