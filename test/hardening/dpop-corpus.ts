import { type GateOptions, jwtVerifier, parseChallenges } from '@portcullis/core'
import { dpopNonces } from '@portcullis/core/adapter'
import { notesGateOptions, RESOURCE, type TokenKit, tokenKit } from '@portcullis/test-kit'
import type { Test } from 'tap'
import {
  accessTokenHash,
  dpopProof,
  type ProofKey,
  type ProofSpec,
  proofKey,
} from '../fixtures/dpop-proofs.js'
import { type Adapter, type DpopApp, startDpopApp } from './dpop-apps.js'
import { type RawRequest, type RawResponse, rawExchange, single } from './raw-http.js'

// The DPoP proof corpus (RFC 9449 §4.3, §7, §9): every bad request next to its valid twin, the
// twin differing in the one thing the bad one gets wrong. Sent on a real socket, byte for byte
// (two DPoP header lines stay two), to the same gate on each adapter.

const ALGORITHMS = ['ES256', 'PS256', 'EdDSA'] as const
const NONCE_SECRET = 'the-nonce-secret-shared-by-every-instance'
type AppName = 'allowed' | 'nonce' | 'stranger' | 'required'

interface Context {
  kit: TokenKit
  key: ProofKey
  other: ProofKey
  /** Bound to `key`, to `other`, and not bound. */
  bound: string
  boundToOther: string
  plain: string
  apps: Record<AppName, DpopApp>
  /** A fresh nonce of the nonce app (from its use_dpop_nonce answer). */
  nonce(app?: AppName): Promise<string>
}

interface Send {
  app?: AppName
  /** `Authorization` value; default `DPoP <bound>`. */
  authorization?: string
  /** `DPoP` header lines. */
  proofs?: string[]
  method?: 'GET' | 'POST'
  /** Default `/mcp`. */
  path?: string
}

interface Expect {
  status: number
  /** The OAuth error of a refusal: the body's `error` and the first challenge's. */
  error?: 'invalid_dpop_proof' | 'invalid_token' | 'use_dpop_nonce' | 'invalid_request'
  /** Text the error_description contains. */
  because?: string
  /** The first challenge's scheme of a refusal. Default DPoP. */
  scheme?: 'DPoP' | 'Bearer'
  /** For a 200: the key the caller proved (`null` for a Bearer caller). Default the bound key. */
  jkt?: 'key' | null
}

interface Case {
  name: string
  send(c: Context): Promise<Send>
  expect: Expect
}

const proof = (c: Context, spec: Partial<ProofSpec> & { key?: ProofKey } = {}) =>
  dpopProof(spec.key ?? c.key, { token: c.bound, htm: 'POST', htu: RESOURCE, ...spec })

const OK: Expect = { status: 200, jkt: 'key' }
const badProof = (because: string): Expect => ({ status: 401, error: 'invalid_dpop_proof', because })

/** A refused request and its accepted twin. */
function pair(
  name: string,
  bad: Case['send'],
  good: Case['send'],
  expect: Expect,
  twin: Expect = OK,
): Case[] {
  return [
    { name, send: bad, expect },
    { name: `${name} (valid twin)`, send: good, expect: twin },
  ]
}

const nowS = () => Math.floor(Date.now() / 1000)

const CASES: Case[] = [
  ...pair(
    'htm is another method',
    async (c) => ({ proofs: [await proof(c, { htm: 'GET' })] }),
    async (c) => ({ proofs: [await proof(c, { htm: 'POST' })] }),
    badProof('htm does not match'),
  ),
  ...pair(
    'htm in lower case',
    async (c) => ({ proofs: [await proof(c, { htm: 'post' })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('htm does not match'),
  ),
  ...pair(
    'htu names another host',
    async (c) => ({ proofs: [await proof(c, { htu: 'https://attacker.example.com/mcp' })] }),
    async (c) => ({ proofs: [await proof(c, { htu: 'https://MCP.example.com:443/mcp' })] }),
    badProof('htu does not match'),
  ),
  ...pair(
    'htu names the host the request reached, not the configured origin (the Host header is not trusted)',
    async (c) => ({ proofs: [await proof(c, { htu: `http://127.0.0.1:${c.apps.allowed.port}/mcp` })] }),
    async (c) => ({ proofs: [await proof(c, { htu: RESOURCE })] }),
    badProof('htu does not match'),
  ),
  ...pair(
    'htu names another path',
    async (c) => ({ proofs: [await proof(c, { htu: 'https://mcp.example.com/notes' })] }),
    async (c) => ({
      path: '/notes',
      method: 'GET',
      proofs: [await proof(c, { htm: 'GET', htu: 'https://mcp.example.com/notes' })],
    }),
    badProof('htu does not match'),
  ),
  ...pair(
    'htu names another scheme',
    async (c) => ({ proofs: [await proof(c, { htu: 'http://mcp.example.com/mcp' })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('htu does not match'),
  ),
  ...pair(
    'htu is not a URL',
    async (c) => ({ proofs: [await proof(c, { htu: '/mcp' })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('htu does not match'),
  ),
  // RFC 9449 §4.3 step 9: query and fragment are ignored on both sides; the path still counts.
  ...pair(
    'a request with a query: htu with another path and the same query',
    async (c) => ({
      path: '/mcp?tenant=a',
      proofs: [await proof(c, { htu: 'https://mcp.example.com/other?tenant=a' })],
    }),
    async (c) => ({ path: '/mcp?tenant=a', proofs: [await proof(c, { htu: RESOURCE })] }),
    badProof('htu does not match'),
  ),
  ...pair(
    'htu with a query and a fragment, another path',
    async (c) => ({ proofs: [await proof(c, { htu: 'https://mcp.example.com/mc?x=1#f' })] }),
    async (c) => ({ proofs: [await proof(c, { htu: 'https://mcp.example.com/mcp?x=1#f' })] }),
    badProof('htu does not match'),
  ),
  ...pair(
    'ath is missing',
    async (c) => ({ proofs: [await proof(c, { omit: ['ath'] })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('ath is missing'),
  ),
  ...pair(
    'ath is the hash of another token (a proof made for another token)',
    async (c) => ({ proofs: [await proof(c, { claims: { ath: accessTokenHash(c.plain) } })] }),
    async (c) => ({ proofs: [await proof(c, { claims: { ath: accessTokenHash(c.bound) } })] }),
    badProof('ath does not match'),
  ),
  ...pair(
    'ath is the hash of the token in base64 with padding',
    async (c) => ({
      proofs: [
        await proof(c, {
          claims: { ath: `${Buffer.from(accessTokenHash(c.bound), 'base64url').toString('base64')}` },
        }),
      ],
    }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('ath does not match'),
  ),
  ...pair(
    'jwk carries the private key',
    async (c) => ({ proofs: [await proof(c, { header: { jwk: c.key.privateJwk } })] }),
    async (c) => ({ proofs: [await proof(c, { header: { jwk: c.key.publicJwk } })] }),
    badProof('private key material'),
  ),
  ...pair(
    'jwk is missing',
    async (c) => ({ proofs: [await proof(c, { header: { jwk: undefined } })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('jwk'),
  ),
  ...pair(
    'jwk is a symmetric key',
    async (c) => ({ proofs: [await proof(c, { header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('private key material'),
  ),
  ...pair(
    'alg none, unsigned',
    async (c) => ({ proofs: [await proof(c, { sign: 'none' })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('alg "none" is not accepted'),
  ),
  ...pair(
    'alg HS256 (HMAC)',
    async (c) => ({ proofs: [await proof(c, { sign: 'HS256' })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('alg "HS256" is not accepted'),
  ),
  ...pair(
    'alg outside the configured list (ES384)',
    async (c) => {
      const es384 = await proofKey('ES384')
      const token = await c.kit.mint({ cnf: { jkt: es384.jkt } })
      return { authorization: `DPoP ${token}`, proofs: [await proof(c, { key: es384, token })] }
    },
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('alg "ES384" is not accepted'),
  ),
  ...pair(
    'typ is jwt',
    async (c) => ({ proofs: [await proof(c, { header: { typ: 'jwt' } })] }),
    async (c) => ({ proofs: [await proof(c, { header: { typ: 'dpop+jwt' } })] }),
    badProof('typ must be dpop+jwt'),
  ),
  ...pair(
    'the signature is another key’s',
    async (c) => ({ proofs: [await proof(c, { header: { jwk: c.other.publicJwk } })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('signature does not verify'),
  ),
  ...pair(
    'iat is too old (400 s, the window is 300 s)',
    async (c) => ({ proofs: [await proof(c, { iat: nowS() - 400 })] }),
    async (c) => ({ proofs: [await proof(c, { iat: nowS() - 200 })] }),
    badProof('too old'),
  ),
  ...pair(
    'iat is in the future (400 s)',
    async (c) => ({ proofs: [await proof(c, { iat: nowS() + 400 })] }),
    async (c) => ({ proofs: [await proof(c, { iat: nowS() + 200 })] }),
    badProof('in the future'),
  ),
  ...pair(
    'jti is missing',
    async (c) => ({ proofs: [await proof(c, { omit: ['jti'] })] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('jti is missing'),
  ),
  ...pair(
    'a replayed proof (same jti) on the same instance',
    async (c) => {
      const once = await proof(c)
      const first = await exchange(c, { proofs: [once] })
      if (first.status !== 200) throw new Error(`the first use of a proof was refused: ${first.status}`)
      return { proofs: [once] }
    },
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('used before'),
  ),
  ...pair(
    'two DPoP headers',
    async (c) => ({ proofs: [await proof(c), await proof(c)] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('more than one DPoP header'),
  ),
  ...pair(
    'two proofs in one DPoP header',
    async (c) => ({ proofs: [`${await proof(c)}, ${await proof(c)}`] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('Invalid DPoP proof'),
  ),
  ...pair(
    'the DPoP scheme without a proof',
    async () => ({ proofs: [] }),
    async (c) => ({ proofs: [await proof(c)] }),
    badProof('A DPoP proof is required'),
  ),
  ...pair(
    'the token is bound to another key than the proof',
    async (c) => ({
      authorization: `DPoP ${c.boundToOther}`,
      proofs: [await proof(c, { token: c.boundToOther })],
    }),
    async (c) => ({
      authorization: `DPoP ${c.boundToOther}`,
      proofs: [await proof(c, { key: c.other, token: c.boundToOther })],
    }),
    { status: 401, error: 'invalid_token', because: 'bound to another key' },
    { status: 200, jkt: null }, // checked below against `other`
  ),
  ...pair(
    'a bound token as Bearer',
    async (c) => ({ authorization: `Bearer ${c.bound}` }),
    async (c) => ({ authorization: `DPoP ${c.bound}`, proofs: [await proof(c)] }),
    { status: 401, error: 'invalid_token', because: 'sender-constrained', scheme: 'Bearer' },
  ),
  ...pair(
    'an unbound token as DPoP',
    async (c) => ({ authorization: `DPoP ${c.plain}`, proofs: [await proof(c, { token: c.plain })] }),
    async (c) => ({ authorization: `Bearer ${c.plain}` }),
    { status: 401, error: 'invalid_token', because: 'not bound' },
    { status: 200, jkt: null },
  ),
  ...pair(
    'a DPoP credential that is not a token68',
    async (c) => ({ authorization: `DPoP ${c.bound} extra`, proofs: [await proof(c)] }),
    async (c) => ({ authorization: `dpop   ${c.bound}`, proofs: [await proof(c)] }),
    { status: 400, error: 'invalid_request', because: 'token68' },
  ),
  ...pair(
    'nonces on: a proof without a nonce',
    async (c) => ({ app: 'nonce', proofs: [await proof(c)] }),
    async (c) => ({ app: 'nonce', proofs: [await proof(c, { nonce: await c.nonce() })] }),
    { status: 401, error: 'use_dpop_nonce', because: 'requires a nonce' },
  ),
  ...pair(
    'nonces on: a stale nonce (from three periods ago)',
    async (c) => ({ app: 'nonce', proofs: [await proof(c, { nonce: staleNonce() })] }),
    async (c) => ({ app: 'nonce', proofs: [await proof(c, { nonce: await c.nonce() })] }),
    { status: 401, error: 'use_dpop_nonce', because: 'not a current one' },
  ),
  ...pair(
    'nonces on: a nonce from another server',
    async (c) => ({ app: 'nonce', proofs: [await proof(c, { nonce: await c.nonce('stranger') })] }),
    async (c) => ({ app: 'nonce', proofs: [await proof(c, { nonce: await c.nonce('nonce') })] }),
    { status: 401, error: 'use_dpop_nonce', because: 'not a current one' },
  ),
  ...pair(
    'DPoP required: a Bearer token',
    async (c) => ({ app: 'required', authorization: `Bearer ${c.plain}` }),
    async (c) => ({ app: 'required', proofs: [await proof(c)] }),
    { status: 401, error: 'invalid_token', because: 'DPoP-bound access tokens only' },
  ),
]

/** A nonce in the format of the nonce app, made for a period three periods back: never current. */
function staleNonce(): string {
  return dpopNonces(Buffer.from(NONCE_SECRET), 60, RESOURCE).current(Date.now() - 180_000)
}

let current: Context
async function exchange(c: Context, send: Send): Promise<RawResponse> {
  const method = send.method ?? 'POST'
  const request: RawRequest = {
    method,
    path: send.path ?? '/mcp',
    headers: [
      ['Authorization', send.authorization ?? `DPoP ${c.bound}`],
      ...(send.proofs ?? []).map((value) => ['DPoP', value] as const),
      ...(method === 'POST' ? ([['Content-Type', 'application/json']] as const) : []),
    ],
    ...(method === 'POST' ? { body: '{}' } : {}),
  }
  return rawExchange(c.apps[send.app ?? 'allowed'].port, request)
}

export async function runDpopCorpus(t: Test, adapter: Adapter): Promise<void> {
  const kit = await tokenKit()
  const key = await proofKey('ES256')
  const other = await proofKey('ES256')
  const base = notesGateOptions(kit, jwtVerifier)
  const start = async (dpop: GateOptions['dpop']) => {
    const app = await startDpopApp(adapter, {
      ...base,
      verifier: notesGateOptions(kit, jwtVerifier).verifier,
      dpop,
    })
    t.teardown(() => app.close())
    return app
  }
  const apps: Record<AppName, DpopApp> = {
    allowed: await start({ mode: 'allowed', algorithms: ALGORITHMS }),
    nonce: await start({ algorithms: ALGORITHMS, nonce: { secret: NONCE_SECRET, periodSeconds: 60 } }),
    stranger: await start({
      algorithms: ALGORITHMS,
      nonce: { secret: 'another-server-has-another-secret!!', periodSeconds: 60 },
    }),
    required: await start({ mode: 'required', algorithms: ALGORITHMS }),
  }
  current = {
    kit,
    key,
    other,
    bound: await kit.mint({ cnf: { jkt: key.jkt } }),
    boundToOther: await kit.mint({ cnf: { jkt: other.jkt } }),
    plain: await kit.mint(),
    apps,
    async nonce(app = 'nonce') {
      const answer = await exchange(current, { app, proofs: [await proof(current)] })
      const nonce = single(answer, 'dpop-nonce')
      if (answer.status !== 401 || nonce === undefined)
        throw new Error(`no nonce from ${app}: ${answer.status}`)
      return nonce
    },
  }

  for (const item of CASES) {
    await t.test(item.name, async (t) => {
      const send = await item.send(current)
      const answer = await exchange(current, send)
      const body = JSON.parse(answer.body.toString('utf8') || '{}') as Record<string, unknown>
      t.equal(answer.status, item.expect.status, `status (${JSON.stringify(body)})`)
      for (const token of [current.bound, current.plain, current.boundToOther]) {
        t.notOk(answer.body.toString('latin1').includes(token), 'no token echoed')
      }
      if (item.expect.status === 200) {
        const expected =
          item.expect.jkt === 'key' ? key.jkt : send.authorization?.startsWith('DPoP') ? other.jkt : null
        t.equal(body.jkt, expected, 'the proven key on AuthInfo')
        // RFC 9449 §8.2: with nonces on, every accepted request hands out the current nonce.
        t.equal(
          single(answer, 'dpop-nonce') !== undefined,
          send.app === 'nonce',
          'DPoP-Nonce on a 200 when nonces are on',
        )
        return
      }
      t.equal(body.error, item.expect.error)
      if (item.expect.because !== undefined) t.match(String(body.error_description), item.expect.because)
      const challenges = parseChallenges(single(answer, 'www-authenticate') ?? '')
      const first = challenges[0]
      t.equal(first?.scheme, item.expect.scheme ?? 'DPoP', 'the first challenge')
      t.equal(first?.params.error, item.expect.error, 'the error is in the first challenge')
      const dpop = challenges.find((challenge) => challenge.scheme === 'DPoP')
      t.equal(dpop?.params.algs, ALGORITHMS.join(' '), 'DPoP algs')
      const required = send.app === 'required'
      t.same(
        challenges.map((challenge) => challenge.scheme).sort(),
        required ? ['DPoP'] : ['Bearer', 'DPoP'],
        required ? 'DPoP alone when required' : 'both schemes',
      )
      if (item.expect.error === 'use_dpop_nonce') t.ok(single(answer, 'dpop-nonce'), 'a DPoP-Nonce header')
    })
  }
}
