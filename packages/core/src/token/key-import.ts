import { createPublicKey, type JsonWebKey, KeyObject } from 'node:crypto'
import { invalidToken } from '../support/errors.js'
import { OptionsError } from '../support/options.js'
import {
  inferJwsAlgorithm,
  isJwsAlgorithm,
  type JwsAlgorithm,
  keyUnfitFor,
  signatureVerifier,
  threadPoolSignatureVerifier,
} from './jws-algorithms.js'
import type { IgnoredKey, KeySet, KeySetStatus, VerificationKey } from './key-set.js'

/** A key given to `staticKeySet`: a public JWK, a public KeyObject, or either with its algorithm and kid. */
export type StaticKey = JsonWebKey | KeyObject | ExplicitKey

export interface ExplicitKey {
  key: JsonWebKey | KeyObject
  alg?: JwsAlgorithm
  kid?: string
}

/**
 * A fixed key set, for issuers without a JWKS endpoint and for tests. Same binding rules as
 * `jwksKeySet`; a key that cannot be used is an error here, not a silent omission.
 *
 * @example
 * const keySet = staticKeySet([{ kty: 'EC', crv: 'P-256', x: '…', y: '…', kid: 'k1' }])
 */
export function staticKeySet(
  keys: readonly StaticKey[],
  options: { rsaAlgorithm?: JwsAlgorithm } = {},
): KeySet {
  if (!Array.isArray(keys) || keys.length === 0)
    throw new OptionsError('staticKeySet', 'keys must be a non-empty list')
  const imported: VerificationKey[] = []
  keys.forEach((entry, index) => {
    const explicit: ExplicitKey = isExplicitKey(entry) ? entry : { key: entry as JsonWebKey | KeyObject }
    const jwk: Record<string, unknown> =
      explicit.key instanceof KeyObject ? {} : { ...(explicit.key as Record<string, unknown>) }
    if (explicit.alg !== undefined) jwk.alg = explicit.alg
    if (explicit.kid !== undefined) jwk.kid = explicit.kid
    const result =
      explicit.key instanceof KeyObject
        ? bindKey(explicit.key, jwk, options.rsaAlgorithm ?? 'RS256')
        : importJwk(jwk, options.rsaAlgorithm ?? 'RS256')
    if (typeof result === 'string') throw new OptionsError('staticKeySet', `key ${index}: ${result}`)
    imported.push(result)
  })
  if (new Set(imported.map((k) => `${k.alg} ${k.kid ?? ''}`)).size !== imported.length) {
    throw new OptionsError('staticKeySet', 'two keys share a kid and algorithm')
  }
  const index = new KeyIndex(imported)
  const status: KeySetStatus = {
    lastFetchAt: undefined,
    lastError: undefined,
    stale: false,
    keys: index.size,
    ignored: [],
  }
  return {
    getKey: async (header) => {
      const found = index.find(header)
      if (found === undefined) throw invalidToken('kid_unknown', 'token signed with an unknown key')
      return found
    },
    heldKey: (header) => index.find(header),
    status: () => ({ ...status }),
  }
}

/**
 * Imports a JWK Set document: every usable signing key bound to one algorithm, the rest listed
 * with the reason it was left out. A document that is not a key set, or holds more than
 * `maxKeys` entries, throws.
 */
export function importJwks(
  document: unknown,
  options: { maxKeys?: number; rsaAlgorithm?: JwsAlgorithm } = {},
): { keys: VerificationKey[]; ignored: IgnoredKey[] } {
  const list = (document as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new TypeError('not a JWK Set: no "keys" list') // RFC 7517 §5
  const maxKeys = options.maxKeys ?? 100
  if (list.length > maxKeys)
    throw new TypeError(`the key set lists ${list.length} keys, more than ${maxKeys}`)
  const keys: VerificationKey[] = []
  const ignored: IgnoredKey[] = []
  const seen = new Set<string>()
  for (const jwk of list) {
    const result = importJwk(jwk, options.rsaAlgorithm ?? 'RS256')
    const kid = typeof jwk?.kid === 'string' ? jwk.kid : undefined
    if (typeof result === 'string') {
      ignored.push(kid === undefined ? { reason: result } : { kid, reason: result })
      continue
    }
    const identity = `${result.alg} ${result.kid ?? ''}`
    if (seen.has(identity)) {
      ignored.push({
        ...(kid === undefined ? {} : { kid }),
        reason: 'repeats the kid and alg of an earlier key',
      })
      continue
    }
    seen.add(identity)
    keys.push(result)
  }
  return { keys, ignored }
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** One JWK to a bound key, or the reason it cannot be used for verifying signatures. */
function importJwk(jwk: unknown, rsaAlgorithm: JwsAlgorithm): VerificationKey | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'not a JSON object'
  const { kty, use, key_ops: keyOps, alg, kid } = jwk as Record<string, unknown>
  if (typeof kty !== 'string') return 'kty missing'
  if (kty === 'oct') return 'symmetric keys are never used to verify' // RFC 8725 §3.1
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return `unsupported kty ${kty}`
  if (use !== undefined && use !== 'sig') return `use is ${String(use)}, not sig` // RFC 7517 §4.2
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    return 'key_ops does not allow verify' // RFC 7517 §4.3
  }
  if (kid !== undefined && typeof kid !== 'string') return 'kid is not a string'
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) return 'private key material published'
  if (alg !== undefined && !isJwsAlgorithm(alg))
    return `alg ${String(alg)} is not a supported signature algorithm`
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
  } catch {
    return 'key material does not import'
  }
  return bindKey(key, jwk as Record<string, unknown>, rsaAlgorithm)
}

function bindKey(
  key: KeyObject,
  jwk: Record<string, unknown>,
  rsaAlgorithm: JwsAlgorithm,
): VerificationKey | string {
  if (key.type !== 'public') return 'not a public key'
  const alg = isJwsAlgorithm(jwk.alg) ? jwk.alg : inferJwsAlgorithm(key, rsaAlgorithm)
  if (alg === undefined) return `no signature algorithm for a ${key.asymmetricKeyType} key`
  const unfit = keyUnfitFor(key, alg)
  if (unfit !== undefined) return unfit
  const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
  return {
    kid,
    alg,
    key,
    verify: signatureVerifier(key, alg),
    verifyOnThreadPool: threadPoolSignatureVerifier(key, alg),
  }
}

function isExplicitKey(entry: StaticKey): entry is ExplicitKey {
  return !(entry instanceof KeyObject) && typeof entry === 'object' && entry !== null && 'key' in entry
}

/** Keys by kid; `kid` is only ever a Map key (RFC 8725 §3.10). */
export class KeyIndex {
  readonly #byKid = new Map<string, VerificationKey[]>()
  readonly #all: readonly VerificationKey[]

  constructor(keys: readonly VerificationKey[]) {
    this.#all = keys
    for (const key of keys) {
      if (key.kid === undefined) continue
      const list = this.#byKid.get(key.kid)
      if (list === undefined) this.#byKid.set(key.kid, [key])
      else list.push(key)
    }
  }

  get size(): number {
    return this.#all.length
  }

  /**
   * The key for a header: by kid and alg, or, for a token without kid, the only key bound to its
   * alg. `undefined` when none is held (worth a refresh); throws when the answer cannot change.
   */
  find(header: { alg: string; kid?: string | undefined }): VerificationKey | undefined {
    const { alg, kid } = header
    if (kid !== undefined) {
      const list = this.#byKid.get(kid)
      if (list === undefined) return undefined
      for (const key of list) if (key.alg === alg) return key
      throw invalidToken(
        'key_unsuitable',
        `key ${JSON.stringify(kid)} is bound to ${list[0]?.alg}, not ${alg}`,
      )
    }
    let match: VerificationKey | undefined
    for (const key of this.#all) {
      if (key.alg !== alg) continue
      if (match !== undefined) throw invalidToken('kid_unknown', 'token has no kid and several keys fit')
      match = key
    }
    return match
  }
}
