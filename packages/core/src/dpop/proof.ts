import { isPortcullisError, PortcullisError } from '../support/errors.js'
import { decodeCompactJwt } from '../token/compact-jwt.js'
import { tokenHash } from '../token/fingerprint.js'
import { isJwsAlgorithm, type JwsAlgorithm } from '../token/jws-algorithms.js'
import type { DpopKeyCache } from './key.js'

/** Longest DPoP proof read, in characters: an RSA-4096 key in the header fits several times over. */
export const MAX_DPOP_PROOF_LENGTH = 8192
/** Longest `jti` accepted: RFC 9449 §4.2 asks for 96 random bits; the replay cache stores it. */
const MAX_JTI_LENGTH = 256

/** What the request the proof came with looks like, and what the proof must therefore say. */
export interface DpopProofExpectations {
  /** The request method (`htm`, RFC 9449 §4.3 step 8). */
  method: string
  /**
   * The URL the client used: the resource's configured origin and the request path (`htu`, step
   * 9); `undefined` when the request names none, which no proof matches.
   */
  url: URL | undefined
  /** The access token presented with the proof (`ath`, step 11). */
  accessToken: string
  /** The JWS algorithms accepted (`alg`, step 5). */
  algorithms: ReadonlySet<string>
  /** The time, in seconds since the epoch. */
  nowSeconds: number
  /** How far `iat` may lie in the past, in seconds. */
  maxAgeSeconds: number
  /** How far `iat` may lie in the future (clock skew), in seconds. */
  maxSkewSeconds: number
}

/** A proof that passed every check of RFC 9449 §4.3 but the nonce and replay ones, which need state. */
export interface CheckedDpopProof {
  /** The RFC 7638 thumbprint of the proof's key: a bound token's `cnf.jkt` must equal it. */
  jkt: string
  jti: string
  iat: number
  /** The `nonce` claim, checked by the caller against the server's nonces (step 10). */
  nonce: string | undefined
}

const invalidProof = (why: string) =>
  new PortcullisError('invalid_dpop_proof', 'dpop_proof_invalid', `Invalid DPoP proof: ${why}`)

/**
 * Checks a DPoP proof JWT as RFC 9449 §4.3 says, steps 2 to 9 and 11: a well-formed JWS
 * (`typ: dpop+jwt`, an allowed asymmetric `alg`, a public `jwk`, a signature that verifies with
 * it), and claims that match the request (`htm`, `htu` without query and fragment), `iat` within the
 * window and `ath` equal to the hash of the presented token. Every failure is an
 * `invalid_dpop_proof` PortcullisError whose message names the check; never the proof or the token.
 *
 * Synchronous: node:crypto verifies an asymmetric signature in microseconds and the imported key
 * is cached, so a DPoP request needs no promise of its own.
 */
export function checkDpopProof(
  proof: string,
  expected: DpopProofExpectations,
  keys: DpopKeyCache,
): CheckedDpopProof {
  if (proof.length > MAX_DPOP_PROOF_LENGTH) throw invalidProof('the proof is too large')
  let decoded: ReturnType<typeof decodeCompactJwt>
  try {
    decoded = decodeCompactJwt(proof)
  } catch (error) {
    throw invalidProof(isPortcullisError(error) ? error.message : 'the proof is not a compact JWS')
  }
  const { header, payload, signingInput, signature } = decoded
  // §4.3 step 4: typ is exactly dpop+jwt (RFC 9449 §4.2 registers it in lower case).
  if (header.typ !== 'dpop+jwt') throw invalidProof('typ must be dpop+jwt')
  // §4.3 step 5: an asymmetric algorithm on the list; none and HMAC are never on it (§11.6).
  if (!isJwsAlgorithm(header.alg) || !expected.algorithms.has(header.alg)) {
    throw invalidProof(`alg ${JSON.stringify(header.alg).slice(0, 40)} is not accepted`)
  }
  if (header.crit !== undefined) throw invalidProof('no critical header parameter is understood')
  const key = keys.read(header.jwk)
  const verify = key.verifierFor(header.alg as JwsAlgorithm)
  if (typeof verify === 'string') throw invalidProof(`the jwk cannot sign ${header.alg}: ${verify}`)
  // §4.3 step 6: the signature verifies with the key in the header.
  if (!verify(Buffer.from(signingInput), signature)) throw invalidProof('the signature does not verify')

  const { jti, htm, htu, iat, ath, nonce } = payload
  // §4.3 step 3 / §4.2: the required claims.
  if (typeof jti !== 'string' || jti === '') throw invalidProof('jti is missing')
  if (jti.length > MAX_JTI_LENGTH) throw invalidProof('jti is too long')
  if (typeof htm !== 'string') throw invalidProof('htm is missing')
  if (typeof htu !== 'string') throw invalidProof('htu is missing')
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidProof('iat is missing')
  // §4.3 step 8: htm is the request method (case-sensitive, RFC 9110 §9.1).
  if (htm !== expected.method) throw invalidProof('htm does not match the request method')
  // §4.3 step 9: htu is the request URI without query and fragment, compared after normalisation.
  if (!sameTarget(htu, expected.url)) throw invalidProof('htu does not match the request URL')
  // §4.3 step 11: iat within the window; §11.1 leaves its size to the server.
  if (iat < expected.nowSeconds - expected.maxAgeSeconds) throw invalidProof('the proof is too old (iat)')
  if (iat > expected.nowSeconds + expected.maxSkewSeconds) {
    throw invalidProof('the proof is issued in the future (iat)')
  }
  // §4.3 step 12 / §7: ath is the base64url SHA-256 of the access token, exactly.
  if (typeof ath !== 'string') throw invalidProof('ath is missing')
  if (ath !== tokenHash(expected.accessToken)) throw invalidProof('ath does not match the access token')
  if (nonce !== undefined && typeof nonce !== 'string') throw invalidProof('nonce is not a string')
  return { jkt: key.jkt, jti, iat, nonce }
}

/**
 * `htu` compared with the URL the client used: scheme, host and port (defaults dropped) and path,
 * after WHATWG URL normalisation (RFC 9449 §4.3 step 9 points at RFC 3986 §6); query and fragment
 * ignored. A `htu` with user information names no other resource but is no URL a client sends.
 */
function sameTarget(htu: string, url: URL | undefined): boolean {
  if (url === undefined) return false
  let parsed: URL
  try {
    parsed = new URL(htu)
  } catch {
    return false
  }
  return (
    parsed.username === '' &&
    parsed.password === '' &&
    parsed.origin === url.origin &&
    parsed.pathname === url.pathname
  )
}
