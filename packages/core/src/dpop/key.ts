import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { PortcullisError } from '../support/errors.js'
import { LruCache } from '../support/lru-cache.js'
import { type JwsAlgorithm, keyUnfitFor, signatureVerifier } from '../token/jws-algorithms.js'

/** A proof key read from a DPoP proof's `jwk` header: its RFC 7638 thumbprint and its verifiers. */
export interface DpopKey {
  /** RFC 7638 JWK SHA-256 thumbprint, base64url: what a bound token carries as `cnf.jkt` (RFC 9449 §6.1). */
  readonly jkt: string
  readonly key: KeyObject
  /** The signature check for `alg`, built once per key and algorithm. */
  verifierFor(alg: JwsAlgorithm): ((data: Buffer, signature: Buffer) => boolean) | string
}

// RFC 7638 §3.2: the required members of each key type, in lexicographic order.
const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
}

// RFC 9449 §4.3 step 7: the jwk must not contain a private key. RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** Keys seen recently, by their RFC 7638 input: a client signs every proof with the same key. */
const KEY_CACHE_SIZE = 1000
const KEY_CACHE_TTL_MS = 10 * 60_000

const invalidProof = (why: string) =>
  new PortcullisError('invalid_dpop_proof', 'dpop_proof_invalid', `Invalid DPoP proof: ${why}`)

/**
 * A cache of imported proof keys. Importing a JWK and hashing its thumbprint costs more than
 * checking the rest of a proof; a client presents the same key on every request.
 */
export class DpopKeyCache {
  readonly #keys = new LruCache<DpopKey>({ maxEntries: KEY_CACHE_SIZE })

  /**
   * The key of a proof's `jwk` header, or an `invalid_dpop_proof` error: not an object, private
   * material (§4.3 step 7), an unknown key type, members that are not strings, or a key node:crypto
   * cannot import.
   */
  read(jwk: unknown): DpopKey {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
      throw invalidProof('the jwk header is not a JSON Web Key')
    }
    const members = jwk as Record<string, unknown>
    for (const name of PRIVATE_MEMBERS) {
      if (Object.hasOwn(members, name)) throw invalidProof('the jwk header contains private key material')
    }
    const kty = members.kty
    const required =
      typeof kty === 'string' && Object.hasOwn(REQUIRED_MEMBERS, kty) ? REQUIRED_MEMBERS[kty] : undefined
    if (required === undefined) throw invalidProof('the jwk header is not an EC, RSA or OKP public key')
    const canonical: Record<string, string> = {}
    for (const name of required) {
      const value = members[name]
      if (typeof value !== 'string' || value === '') throw invalidProof(`the jwk member ${name} is missing`)
      canonical[name] = value
    }
    // RFC 7638 §3: the required members, in order, with no whitespace.
    const input = JSON.stringify(canonical)
    const cached = this.#keys.get(input)
    if (cached !== undefined) return cached
    let key: KeyObject
    try {
      key = createPublicKey({ key: canonical, format: 'jwk' })
    } catch {
      throw invalidProof('the jwk header is not a usable public key')
    }
    const jkt = createHash('sha256').update(input).digest('base64url')
    const verifiers = new Map<JwsAlgorithm, ((data: Buffer, signature: Buffer) => boolean) | string>()
    const entry: DpopKey = Object.freeze({
      jkt,
      key,
      verifierFor(alg: JwsAlgorithm) {
        let verifier = verifiers.get(alg)
        if (verifier === undefined) {
          verifier = keyUnfitFor(key, alg) ?? signatureVerifier(key, alg)
          verifiers.set(alg, verifier)
        }
        return verifier
      },
    })
    this.#keys.set(input, entry, KEY_CACHE_TTL_MS)
    return entry
  }
}

/**
 * The RFC 7638 SHA-256 thumbprint of a public JWK (base64url), as `cnf.jkt` carries it.
 *
 * @example
 * jwkThumbprint({ kty: 'EC', crv: 'P-256', x: '...', y: '...' }) // 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
 */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const required = typeof jwk.kty === 'string' ? REQUIRED_MEMBERS[jwk.kty] : undefined
  if (required === undefined) throw new TypeError('jwkThumbprint: kty must be EC, RSA or OKP')
  const canonical: Record<string, unknown> = {}
  for (const name of required) canonical[name] = jwk[name]
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}
