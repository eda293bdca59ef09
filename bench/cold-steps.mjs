// Where a new token's cost goes, on one thread and without HTTP. Two measures:
// - steps: each step alone over fresh tokens, the steps in alternating batches, CPU µs per token
//   (median of batches): the signature, the parsing any verifier does, what Portcullis adds to it;
// - profile: a V8 CPU profile of the gate taking new tokens (the path of a cold request after the
//   adapter), each sample given to the nearest frame that says what it does (the signature, the
//   decoding, the checks and the answer, remembering it, the gate, the collector). Shares come
//   from one run, so they hold when the machine's speed moves between batches, which the medians
//   of separate steps do not; `everything / signature` is then the cold target's ratio without
//   HTTP (cold − bare over the raw verify, `cold-path.mjs`), and `min-verifier` is the same for
//   the least a correct verifier does; `rules-verifier` adds to it every rule the gate applies,
//   without the gate's structure, so the two gaps say what the rules cost and what the structure
//   costs.
//
//   node bench/cold-steps.mjs [--algs ES256,RS256,EdDSA] [--batches 9] [--tokens 2000]
//                             [--profiles 3] [--profile-tokens 6000]
//                             [--cpu-prof <dir>]   (also writes each profile there, for a viewer)
import * as nodeCrypto from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  ISSUER,
  keyPair,
  mintJwts,
  minVerifier,
  publicJwk,
  RESOURCE,
  rawVerifier,
  SCOPE,
  signatureCheck,
} from './lib/jwt.mjs'
import { builds } from './lib/load-builds.mjs'
import { alternate, cpuMicrosSync, loadAverage, median, range } from './lib/measure.mjs'
import { countSamples, cpuProfile, profileClasses } from './lib/profile.mjs'
import { rulesVerifier } from './lib/rules-verifier.mjs'
import { fmt1, printTable } from './lib/table.mjs'

const { values: args } = parseArgs({
  options: {
    algs: { type: 'string', default: 'ES256,RS256,EdDSA' },
    batches: { type: 'string', default: '9' },
    tokens: { type: 'string', default: '2000' },
    'profile-tokens': { type: 'string', default: '6000' },
    profiles: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
  },
})
const batches = Number(args.batches)
const perBatch = Number(args.tokens)
const profiled = Number(args['profile-tokens'])
const profiles = Number(args.profiles)
const WARM = 500
const { core } = await builds('core')

/**
 * The gate of `core`'s build taking new tokens, signatures checked in place (`'event-loop'`);
 * `headers[i]` is the `Authorization` header carrying token `i`. `signature: false` takes every
 * signature as valid without checking it (a key whose `verify` says yes): what the gate does
 * around the signature, measured without the signature's noise.
 */
function gateStep(alg, jwk, headers, { signature = true } = {}) {
  const keys = core.this.staticKeySet([jwk])
  const held = keys.heldKey({ alg, kid: jwk.kid })
  const unchecked = { ...held, verify: () => true, verifyOnThreadPool: undefined }
  const keySet = signature
    ? keys
    : { getKey: async () => unchecked, heldKey: () => unchecked, status: () => keys.status() }
  const verifier = core.this.jwtVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    keySet,
    algorithms: [alg],
    signatureCheck: 'event-loop',
  })
  const gate = core.this.createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier })
  return (_token, i) => {
    const result = gate.authenticateNow({ authorization: headers[i], method: 'GET', path: '/hello' })
    if (result instanceof Promise || !result.ok) throw new Error('gate: not admitted at once')
  }
}

/**
 * A step of `verify(token, i)`, a verifier's answer for token `i` (the caller, or `undefined` when
 * refused), with the scope a route asks for checked as min-verifier's hook in cold-path.mjs does.
 */
function acceptingStep(name, verify) {
  return (token, i) => {
    const auth = verify(token, i)
    if (auth === undefined) throw new Error(`${name}: refused`)
    if (!auth.scopes.includes(SCOPE)) throw new Error(`${name}: scope`)
  }
}

/** What `min-verifier` (lib/jwt.mjs `minVerifier`) does per new token. */
const minVerifierStep = (alg, jwk) => acceptingStep('min-verifier', minVerifier(alg, jwk))

/** What `rules-verifier` (lib/rules-verifier.mjs) does per new token; `signature` as for `gateStep`. */
function rulesVerifierStep(alg, jwk, headers, { signature = true } = {}) {
  const verify = rulesVerifier(alg, jwk, signature ? {} : { check: () => true })
  return acceptingStep('rules-verifier', (_token, i) => verify(headers[i]))
}

// Categories of a profile sample, by the nearest frame (from the sample up) that one names.
const CATEGORIES = [
  ['signature', (f) => f.functionName === 'verifyOneShot' || f.url.includes('crypto/sig')],
  ['collector', (f) => f.functionName === '(garbage collector)'],
  ['decoding', (f) => /core\/dist\/token\/compact-jwt\.js$/.test(f.url)],
  ['fingerprint hash', (f) => /core\/dist\/token\/fingerprint\.js$/.test(f.url)],
  ['remembering (cache)', (f) => /core\/dist\/(token\/token-cache|support\/lru-cache)\.js$/.test(f.url)],
  [
    'checks and the answer',
    (f) =>
      /core\/dist\/(token\/(jwt-verifier|claims|vouched|auth-info|sender-constraint)|oauth\/scopes)\.js$/.test(
        f.url,
      ),
  ],
  ['gate (bearer, admit, copy)', (f) => /core\/dist\/(gate|oauth|telemetry|support)\//.test(f.url)],
  // What the step does in its own code (this file): all of min-verifier's parsing and checks; for
  // the gate, the bench building the header.
  ['the step itself', (f) => f.url.endsWith('/bench/cold-steps.mjs')],
  // Not the step's: the profiler's own frames, idle time before and after.
  [
    'outside',
    (f) => ['(idle)', '(program)', '(root)'].includes(f.functionName) || f.url.startsWith('node:inspector'),
  ],
]

/** CPU µs per token and a profile of `step` over `tokens`, the samples' time by category. */
async function profileOf(step, tokens, from, count, file) {
  const { profile, result: micros } = await cpuProfile(() =>
    cpuMicrosSync(() => {
      for (let i = from; i < from + count; i++) step(tokens[i], i)
    }),
  )
  if (file !== undefined) writeFileSync(file, JSON.stringify(profile))
  const { classOf } = profileClasses(
    profile,
    (frame) => CATEGORIES.find(([, matches]) => matches(frame))?.[0],
    'other',
  )
  const time = countSamples(profile.samples, classOf)
  // Only what ran for the tokens: the profiler's idle and program time before and after is left out.
  time.delete('outside')
  const total = [...time.values()].reduce((sum, t) => sum + t, 0)
  return { micros: micros / count, shares: new Map([...time].map(([name, t]) => [name, t / total])) }
}

console.log(`load average ${loadAverage().join(' ')}`)
for (const alg of args.algs.split(',')) {
  const { privateKey, publicKey } = keyPair(alg)
  const jwk = publicJwk(publicKey, alg)
  // Flat strings, as a header read from a request is (a concatenation would be flattened, a copy,
  // the first time one is sliced: a cost no served request pays). mintJwts makes flat tokens.
  const flat = (text) => Buffer.from(text, 'latin1').toString('latin1')
  const count = WARM + batches * perBatch + 3 * (WARM + profiles * profiled)
  const tokens = mintJwts({ alg, privateKey, count, jtiPrefix: 'steps' })
  const headers = tokens.map((token) => flat(`Bearer ${token}`))
  const raw = rawVerifier(alg, jwk, tokens)
  const check = signatureCheck(alg, jwk)
  const steps = {
    // node:crypto alone over bytes decoded beforehand: the physical limit.
    'raw verify': (_token, i) => raw(i),
    // The signature from the token's text: decode it, verify (what min-verifier does).
    'signature from the text': (token) => {
      if (!check(token)) throw new Error('bad signature')
    },
    // The parsing every verifier does (min-verifier): split, base64url, JSON.parse of both parts.
    'loose parse': (token) => {
      const [head, body] = token.split('.')
      JSON.parse(Buffer.from(head, 'base64url').toString())
      JSON.parse(Buffer.from(body, 'base64url').toString())
    },
    // Portcullis's decoding: one spelling per part (RFC 7515), UTF-8 (RFC 8725 §3.7), no repeated
    // member names, the header from its small cache.
    'strict decode': (token) => core.this.decodeCompactJwt(token),
    // The fingerprint: SHA-256 of the signing input, for the deny list and the logs.
    'fingerprint hash': (token) =>
      nodeCrypto.hash('sha256', token.slice(0, token.lastIndexOf('.')), 'base64url'),
    'min-verifier': minVerifierStep(alg, jwk),
    'rules-verifier': rulesVerifierStep(alg, jwk, headers),
    'gate (new token)': gateStep(alg, jwk, headers),
    // Around the signature only: the gate's structure is the difference of these two.
    'rules-verifier, signature not checked': rulesVerifierStep(alg, jwk, headers, { signature: false }),
    'gate, signature not checked': gateStep(alg, jwk, headers, { signature: false }),
  }
  const subjects = Object.entries(steps).map(([name, step]) => ({ name, step }))
  for (const s of subjects) for (let i = 0; i < WARM; i++) s.step(tokens[i], i)
  await alternate(subjects, batches, async (s, b) => {
    const from = WARM + b * perBatch
    return (
      cpuMicrosSync(() => {
        for (let i = from; i < from + perBatch; i++) s.step(tokens[i], i)
      }) / perBatch
    )
  })
  const rawMicros = median(subjects[0].samples)
  console.log(
    `\n${alg}: steps, CPU µs per token, median of ${batches} batches of ${perBatch} (one thread, no HTTP)`,
  )
  printTable(
    ['step', 'µs per token>', 'range>', '/ raw verify>'],
    subjects.map((s) => {
      const [low, high] = range(s.samples)
      return [
        s.name,
        fmt1(median(s.samples)),
        `${fmt1(low)}–${fmt1(high)}`,
        `${(median(s.samples) / rawMicros).toFixed(2)}x`,
      ]
    }),
  )

  // The profiles: the two paths in turn, each profile over fresh tokens, after a warm-up.
  let next = WARM + batches * perBatch
  const paths = [
    { name: 'gate', step: gateStep(alg, jwk, headers), runs: [] },
    { name: 'rules-verifier', step: rulesVerifierStep(alg, jwk, headers), runs: [] },
    { name: 'min-verifier', step: minVerifierStep(alg, jwk), runs: [] },
  ]
  for (const path of paths) {
    for (let i = next; i < next + WARM; i++) path.step(tokens[i], i)
    next += WARM
  }
  for (let run = 0; run < profiles; run++) {
    for (const path of paths) {
      const file =
        args['cpu-prof'] && join(args['cpu-prof'], `steps-${alg}-${path.name}-${Date.now()}.cpuprofile`)
      path.runs.push(await profileOf(path.step, tokens, next, profiled, file))
      next += profiled
    }
  }
  const rows = paths.map(({ name, runs }) => {
    const ratios = runs.map((r) => 1 / (r.shares.get('signature') ?? 1))
    const [low, high] = range(ratios)
    const besides = CATEGORIES.map(([category]) => category)
      .filter((category) => category !== 'signature' && category !== 'outside')
      .map((category) => [category, median(runs.map((r) => r.shares.get(category) ?? 0))])
      .filter(([, share]) => share > 0)
    return [
      name,
      fmt1(median(runs.map((r) => r.micros))),
      `${median(ratios).toFixed(2)}x (${low.toFixed(2)}–${high.toFixed(2)})`,
      besides.map(([category, share]) => `${category} ${(share * 100).toFixed(1)} %`).join(', '),
    ]
  })
  console.log(
    `\n${alg}: ${profiles} profiles of ${profiled} new tokens per path (CPU µs per token while profiled; medians of shares)`,
  )
  printTable(['path', 'µs per token>', 'everything / signature>', 'besides the signature'], rows)
}
