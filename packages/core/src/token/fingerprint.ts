import * as nodeCrypto from 'node:crypto'
import { decodeBase64url } from './compact-jwt.js'

// crypto.hash (Node >= 20.12) hashes a string in one call, about twice as fast as createHash.
const oneShotHash = (nodeCrypto as { hash?: (alg: string, data: string, encoding: 'base64url') => string })
  .hash

/**
 * A full-length hash of a token exactly as sent, for cache keys where collisions must be out of
 * reach. A cache keyed by it can only hand back the outcome of the very same bytes; it is not the
 * token's identity (see `tokenFingerprint`).
 */
export const tokenHash: (token: string) => string = oneShotHash
  ? (token) => oneShotHash('sha256', token, 'base64url')
  : (token) => nodeCrypto.createHash('sha256').update(token).digest('base64url')

/**
 * The identity of a token: a short, non-reversible identifier (the first 16 characters of a
 * base64url SHA-256, 96 bits) for logs and the deny list. The token itself is never logged or
 * used as a key.
 *
 * For a compact JWS it is the hash of the signing input (`header.payload`, RFC 7515 §5.2), what
 * the issuer signed, not of the whole token: a signature has more than one encoding that
 * verifies (ECDSA `(r, s)` and `(r, n − s)`, FIPS 186-5 §6.4.2; a second signature the issuer made
 * over the same bytes), and every one of them is the same token, revoked together. The signing
 * input has exactly one spelling (the strict decoder refuses every other base64url of it). Any
 * other token (opaque, JWE) is hashed whole.
 */
export function tokenFingerprint(token: string): string {
  return fingerprintOfHash(tokenHash(identityInput(token)))
}

/** The first 16 characters of a `tokenHash`: how a hash is shortened into a fingerprint. */
export function fingerprintOfHash(hash: string): string {
  return hash.slice(0, 16)
}

/**
 * What a token's identity is computed from: the signing input of a compact JWS, else the token.
 * A JWS is three parts whose first decodes (strictly) to a JSON object naming an `alg`; an opaque
 * token that merely has two dots keeps its whole self, so two such tokens never share an identity.
 */
function identityInput(token: string): string {
  if (typeof token !== 'string') return String(token)
  const first = token.indexOf('.')
  if (first <= 0) return token
  const second = token.indexOf('.', first + 1)
  if (second < 0 || token.indexOf('.', second + 1) >= 0) return token
  const header = decodeBase64url(token.slice(0, first))
  if (header === undefined) return token
  try {
    const value: unknown = JSON.parse(header.toString('utf8'))
    const alg = typeof value === 'object' && value !== null ? (value as { alg?: unknown }).alg : undefined
    return typeof alg === 'string' && alg !== '' ? token.slice(0, second) : token
  } catch {
    return token
  }
}
