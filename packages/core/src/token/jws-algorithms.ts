import { constants, type KeyObject, verify } from 'node:crypto'

/**
 * The asymmetric JWS algorithms Portcullis verifies (RFC 7518 §3, RFC 8037, RFC 9864 `Ed25519`).
 * HMAC and `none` are absent on purpose: a resource server holds only public keys (RFC 8725 §3.1–3.2).
 */
export const JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const

export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number]

/** The default allow-list: every supported algorithm except the RFC 9864 alias `Ed25519`. */
export const DEFAULT_JWS_ALGORITHMS: readonly JwsAlgorithm[] = JWS_ALGORITHMS.filter(
  (alg) => alg !== 'Ed25519',
)

export const RSA_JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const

interface AlgorithmSpec {
  /** Digest name for node:crypto, `null` for EdDSA (the hash is part of the scheme). */
  hash: 'sha256' | 'sha384' | 'sha512' | null
  /** `asymmetricKeyType` values of a KeyObject that may carry this algorithm. */
  keyTypes: readonly string[]
  /** EC curve (OpenSSL name) the key must be on. */
  curve?: string
  pss?: boolean
  /** Exact signature length in bytes where the scheme fixes it (RFC 7518 §3.4, RFC 8032 §5.1.6). */
  signatureLength?: number
}

const RSA = ['rsa']
const SPECS: Record<JwsAlgorithm, AlgorithmSpec> = {
  RS256: { hash: 'sha256', keyTypes: RSA },
  RS384: { hash: 'sha384', keyTypes: RSA },
  RS512: { hash: 'sha512', keyTypes: RSA },
  PS256: { hash: 'sha256', keyTypes: RSA, pss: true },
  PS384: { hash: 'sha384', keyTypes: RSA, pss: true },
  PS512: { hash: 'sha512', keyTypes: RSA, pss: true },
  ES256: { hash: 'sha256', keyTypes: ['ec'], curve: 'prime256v1', signatureLength: 64 },
  ES384: { hash: 'sha384', keyTypes: ['ec'], curve: 'secp384r1', signatureLength: 96 },
  ES512: { hash: 'sha512', keyTypes: ['ec'], curve: 'secp521r1', signatureLength: 132 },
  EdDSA: { hash: null, keyTypes: ['ed25519', 'ed448'] },
  Ed25519: { hash: null, keyTypes: ['ed25519'], signatureLength: 64 },
}

/** RFC 7518 §3.3 and §3.5: RSA keys of 2048 bits or more. */
const MIN_RSA_BITS = 2048
/**
 * RSA public exponents accepted: odd, from 3 (RFC 8017 §3.1) and below 2^256 (FIPS 186-5 §5.4).
 * `e = 1` makes a "signature" equal to its own padded message, forgeable without any private key;
 * an even `e` is no RSA key at all.
 */
const MIN_RSA_EXPONENT = 3n
const RSA_EXPONENT_BOUND = 2n ** 256n

const PSS_SALT_LENGTH = { sha256: 32, sha384: 48, sha512: 64 } as const

export function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && Object.hasOwn(SPECS, value)
}

/**
 * Why a public key cannot carry `alg`, or `undefined` when it can (key type, EC curve, RSA size
 * and public exponent).
 */
export function keyUnfitFor(key: KeyObject, alg: JwsAlgorithm): string | undefined {
  const spec = SPECS[alg]
  if (key.type !== 'public') return 'not a public key'
  const type = key.asymmetricKeyType ?? ''
  if (!spec.keyTypes.includes(type)) return `a ${type} key cannot sign ${alg}`
  const details = key.asymmetricKeyDetails ?? {}
  if (spec.curve !== undefined && details.namedCurve !== spec.curve) {
    return `${alg} needs curve ${spec.curve}, the key is on ${details.namedCurve}`
  }
  if (type === 'rsa' && (details.modulusLength ?? 0) < MIN_RSA_BITS) {
    return `RSA key of ${details.modulusLength} bits is below ${MIN_RSA_BITS}`
  }
  if (type === 'rsa') {
    const e = details.publicExponent
    if (e === undefined || e < MIN_RSA_EXPONENT || e % 2n === 0n || e >= RSA_EXPONENT_BOUND) {
      return `RSA public exponent ${e === undefined ? 'unknown' : e < 1_000_000n ? String(e) : `of ${e.toString(2).length} bits`} is not an odd number from 3 to 2^256`
    }
  }
  return undefined
}

/**
 * The one algorithm a key without an `alg` is bound to (RFC 8725 §3.1): EC keys by curve, OKP
 * keys EdDSA, RSA keys `rsaAlgorithm` (RS256 unless told otherwise).
 */
export function inferJwsAlgorithm(
  key: KeyObject,
  rsaAlgorithm: JwsAlgorithm = 'RS256',
): JwsAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return rsaAlgorithm
    case 'ec':
      switch (key.asymmetricKeyDetails?.namedCurve) {
        case 'prime256v1':
          return 'ES256'
        case 'secp384r1':
          return 'ES384'
        case 'secp521r1':
          return 'ES512'
        default:
          return undefined
      }
    case 'ed25519':
    case 'ed448':
      return 'EdDSA'
    default:
      return undefined
  }
}

/**
 * A verify function bound to one key and one algorithm, with the node:crypto options built once.
 * Returns false (never throws) for any signature that does not verify.
 */
export function signatureVerifier(
  key: KeyObject,
  alg: JwsAlgorithm,
): (data: Buffer, signature: Buffer) => boolean {
  const { hash, length, keyOptions } = verifyParameters(key, alg)
  return (data, signature) => {
    if (length !== undefined && signature.length !== length) return false
    try {
      return verify(hash, data, keyOptions, signature)
    } catch {
      return false
    }
  }
}

/**
 * `signatureVerifier` on libuv's thread pool (node:crypto `verify` with a callback): the event
 * loop keeps serving requests while a signature is checked, and a second core can take the work.
 * Resolves false (never rejects) for any signature that does not verify. `data` and `signature`
 * must not change until it settles.
 */
export function threadPoolSignatureVerifier(
  key: KeyObject,
  alg: JwsAlgorithm,
): (data: Buffer, signature: Buffer) => Promise<boolean> {
  const { hash, length, keyOptions } = verifyParameters(key, alg)
  return (data, signature) =>
    new Promise<boolean>((resolve) => {
      if (length !== undefined && signature.length !== length) return resolve(false)
      try {
        verify(hash, data, keyOptions, signature, (error, valid) => resolve(error === null && valid))
      } catch {
        resolve(false)
      }
    })
}

function verifyParameters(key: KeyObject, alg: JwsAlgorithm) {
  const spec = SPECS[alg]
  const hash = spec.hash
  const type = key.asymmetricKeyType
  const length = spec.signatureLength ?? (type === 'ed25519' ? 64 : type === 'ed448' ? 114 : undefined)
  const keyOptions =
    spec.pss === true && hash !== null
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH[hash] } // RFC 7518 §3.5
      : spec.keyTypes[0] === 'ec'
        ? { key, dsaEncoding: 'ieee-p1363' as const } // RFC 7518 §3.4: R || S, not DER
        : key
  return { hash, length, keyOptions }
}
