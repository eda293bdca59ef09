// The MCP authorization journey with DPoP (RFC 9449) end to end: the 2.x client's own DPoP support
// (`OAuthClientProvider.dpop()` → `DpopSession`) against the notes server with DPoP on and the dev
// IdP (oidc-provider) issuing DPoP-bound tokens. First contact, tool calls, step-up, refresh and
// server nonces, every token bound to the client's key; the same token without the key is useless.
import { setTimeout as sleep } from 'node:timers/promises'
import {
  DpopSession,
  OAuthError,
  refreshAuthorization,
  UnauthorizedError,
} from '@modelcontextprotocol/client'
import { parseChallenges } from '@portcullis/core'
import t from 'tap'
import {
  exchangeRecorder,
  HeadlessOAuthProvider,
  type HeadlessProviderOptions,
} from './fixtures/headless-oauth-client.js'
import { ADAPTERS, notesEndpoint, startJourneyIdp } from './fixtures/journey-stack.js'
import { signInV2, toolResult } from './fixtures/sdk-clients.js'

/** The headless provider with DPoP: one key pair for the life of the registration. */
class DpopOAuthProvider extends HeadlessOAuthProvider {
  readonly session: Promise<DpopSession>
  constructor(options: HeadlessProviderOptions) {
    super(options)
    this.session = DpopSession.create()
  }
  dpop(): Promise<DpopSession> {
    return this.session
  }
}

interface Sent {
  url: string
  method: string
  /** The Authorization scheme sent, if any. */
  scheme: string | undefined
  proof: boolean
  status: number
  wwwAuthenticate: string | null
}

/** The recorder's fetch, also noting the scheme and proof of each request (never the token). */
function capture() {
  const recorder = exchangeRecorder()
  const sent: Sent[] = []
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init)
    const response = await recorder.fetch(input, init)
    sent.push({
      url: request.url,
      method: request.method,
      scheme: request.headers.get('authorization')?.split(' ')[0],
      proof: request.headers.has('dpop'),
      status: response.status,
      wwwAuthenticate: response.headers.get('www-authenticate'),
    })
    return response
  }
  return { fetch, sent, recorder }
}

const rpc = (method: string) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} })
const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
}

for (const adapter of ADAPTERS) {
  t.test(
    `2.x client with DPoP (${adapter}): first contact, tool calls and step-up, all DPoP-bound`,
    async (t) => {
      const idp = await startJourneyIdp(t)
      const notes = await notesEndpoint(t, idp, { adapter, dpop: 'allowed' })
      const provider = new DpopOAuthProvider({ user: 'alice', clientName: `journey dpop ${adapter}` })
      const session = await provider.session
      const { fetch, sent } = capture()

      // RFC 9728 §2: the resource says it takes DPoP, with which algorithms.
      const metadata = (await (await globalThis.fetch(notes.metadataUrl)).json()) as Record<string, unknown>
      t.ok((metadata.dpop_signing_alg_values_supported as string[]).includes(session.alg))
      t.equal(metadata.dpop_bound_access_tokens_required, false)

      const { client, transport } = await signInV2(notes.url, provider, fetch, 'modern')
      t.teardown(() => client.close())
      t.equal(provider.tokens().token_type, 'DPoP', 'the IdP issued a DPoP-bound token')
      const tokenRequests = sent.filter((s) => s.url === idp.endpoints.token)
      t.ok(
        tokenRequests.length > 0 && tokenRequests.every((s) => s.proof),
        'the token request carried a proof',
      )

      const who = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
      t.match(who, { sub: 'alice', scopes: ['notes:read'] })
      t.equal(who.dpopJkt, session.thumbprint, 'the handler sees the key the caller proved')
      const toNotes = sent.filter((s) => s.url === notes.resource && s.status === 200)
      t.ok(toNotes.length >= 2, 'MCP requests were answered')
      t.ok(
        toNotes.every((s) => s.scheme === 'DPoP' && s.proof),
        'every accepted MCP request used the DPoP scheme with a proof',
      )

      // The token alone is worth nothing: as Bearer, or with a proof of another key.
      const token = provider.tokens().access_token as string
      const asBearer = await globalThis.fetch(notes.url, {
        method: 'POST',
        headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
        body: rpc('tools/list'),
      })
      t.equal(asBearer.status, 401, 'a stolen DPoP-bound token used as Bearer is refused')
      t.match(await asBearer.json(), { error: 'invalid_token', error_description: /sender-constrained/ })
      const thief = await DpopSession.create()
      const stolen = await globalThis.fetch(notes.url, {
        method: 'POST',
        headers: {
          ...MCP_HEADERS,
          authorization: `DPoP ${token}`,
          dpop: await thief.buildProof({ htm: 'POST', htu: notes.url, accessToken: token }),
        },
        body: rpc('tools/list'),
      })
      t.equal(stolen.status, 401, 'with a proof of another key it is refused')
      t.match(await stolen.json(), { error: 'invalid_token', error_description: /another key/ })
      const [first] = parseChallenges(stolen.headers.get('www-authenticate') ?? '')
      t.equal(first?.scheme, 'DPoP')

      // Step-up: add_note needs notes:write. The 403 names the scope; the SDK re-authorizes, with DPoP.
      sent.splice(0)
      const stepUp = await client.callTool({ name: 'add_note', arguments: { text: 'first' } }).then(
        () => undefined,
        (error: unknown) => error,
      )
      t.ok(stepUp instanceof UnauthorizedError, 'the SDK started a new authorization')
      const forbidden = sent.find((s) => s.url === notes.resource && s.status === 403)
      t.equal(forbidden?.scheme, 'DPoP')
      const challenges = parseChallenges(forbidden?.wwwAuthenticate ?? '')
      t.same(
        challenges.map((c) => [c.scheme, c.params.error, c.params.scope]),
        [
          ['Bearer', 'insufficient_scope', 'notes:write'],
          ['DPoP', 'insufficient_scope', 'notes:write'],
        ],
        'both schemes name the missing scope',
      )
      await transport.finishAuth(provider.takeCallback().params)
      t.equal(provider.tokens().token_type, 'DPoP', 'the stepped-up token is DPoP-bound too')
      t.match(toolResult(await client.callTool({ name: 'add_note', arguments: { text: 'first' } })), {
        note: { text: 'first' },
      })
      const after = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
      t.same(after.scopes.sort(), ['notes:read', 'notes:write'])
      t.equal(after.dpopJkt, session.thumbprint, 'bound to the same key')
    },
  )
}

t.test(
  '2.x client with DPoP: an expired DPoP-bound token is refreshed with a proof (introspection)',
  async (t) => {
    const idp = await startJourneyIdp(t)
    // Opaque tokens: the introspection answer carries cnf.jkt (RFC 9449 §6.2).
    const notes = await notesEndpoint(t, idp, { format: 'opaque', accessTokenTtl: 2, dpop: 'allowed' })
    const provider = new DpopOAuthProvider({ user: 'alice', clientName: 'journey dpop refresh' })
    const session = await provider.session
    const { fetch, sent } = capture()
    const { client } = await signInV2(notes.url, provider, fetch, 'modern')
    t.teardown(() => client.close())
    t.equal(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).dpopJkt, session.thumbprint)
    const first = provider.tokens()
    t.equal(first.token_type, 'DPoP')
    t.ok(first.refresh_token, 'a refresh token')

    await sleep(3100)
    sent.splice(0)
    const who = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
    t.equal(who.dpopJkt, session.thumbprint, 'the call succeeds, still bound to the key')
    const expired = sent.find((s) => s.url === notes.resource && s.status === 401)
    t.ok(expired, 'the expired token was refused')
    const [challenge] = parseChallenges(expired?.wwwAuthenticate ?? '')
    t.match(
      challenge,
      { scheme: 'DPoP', params: { error: 'invalid_token' } },
      'in the DPoP scheme it came with',
    )
    const refresh = sent.find((s) => s.url === idp.endpoints.token)
    t.match(refresh, { status: 200, proof: true }, 'the refresh carried a DPoP proof')
    const second = provider.tokens()
    t.not(second.access_token, first.access_token, 'a new access token')
    t.equal(second.token_type, 'DPoP', 'bound again')

    // The refresh token is bound to the key as well (a public client, RFC 9449 §5): without a proof
    // the authorization server refuses it; with the client's own proof it is honoured.
    const refreshWith = (dpop?: DpopSession) =>
      refreshAuthorization(idp.issuer, {
        metadata: provider.authorizationServerMetadata as never,
        clientInformation: provider.registeredClient as never,
        refreshToken: second.refresh_token,
        resource: notes.resource,
        ...(dpop === undefined ? {} : { dpop }),
      })
    const stolen = await refreshWith().then(
      () => undefined,
      (error: unknown) => error,
    )
    t.ok(stolen instanceof OAuthError, 'a stolen refresh token without the key is refused')
    const renewed = await refreshWith(session)
    t.equal(renewed.token_type, 'DPoP', 'with the key it is honoured, and the new token is bound')
  },
)

t.test('2.x client with DPoP required and server nonces: use_dpop_nonce is answered inline', async (t) => {
  const idp = await startJourneyIdp(t)
  const notes = await notesEndpoint(t, idp, { dpop: { mode: 'required', nonce: true } })
  const provider = new DpopOAuthProvider({ user: 'alice', clientName: 'journey dpop nonce' })
  const { fetch, sent } = capture()

  const metadata = (await (await globalThis.fetch(notes.metadataUrl)).json()) as Record<string, unknown>
  t.equal(metadata.dpop_bound_access_tokens_required, true)
  const { client } = await signInV2(notes.url, provider, fetch, 'modern')
  t.teardown(() => client.close())
  // The first contact's 401 names DPoP alone, and the SDK still found the metadata through it.
  const [firstContact] = sent.filter((s) => s.url === notes.resource)
  t.same(
    parseChallenges(firstContact?.wwwAuthenticate ?? '').map((c) => c.scheme),
    ['DPoP'],
    'required: the DPoP challenge alone',
  )
  const nonceChallenges = sent.filter(
    (s) => s.url === notes.resource && s.status === 401 && /use_dpop_nonce/.test(s.wwwAuthenticate ?? ''),
  )
  t.ok(nonceChallenges.length >= 1, 'the server asked for a nonce')
  sent.splice(0)
  t.equal(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).sub, 'alice')
  t.equal(toolResult(await client.callTool({ name: 'list_notes', arguments: {} })).notes.length, 0)
  const calls = sent.filter((s) => s.url === notes.resource && s.method === 'POST')
  t.same(
    calls.map((s) => [s.status, s.scheme, s.proof]),
    [
      [200, 'DPoP', true],
      [200, 'DPoP', true],
    ],
    'the nonce each answer carries keeps the client current: no further refusal',
  )
})
