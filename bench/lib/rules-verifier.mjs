// min-verifier (lib/jwt.mjs) with every rule Portcullis's gate applies to a new token, in
// straight-line code: each rule through Portcullis's own function where it has one (readBearer,
// decodeCompactJwt, audienceMatches, scopesFromClaims), inline where it has none, and none of the
// gate's structure (no gate and verifier layers, no LRU order or expiry, no vouching, no template
// and copy per request). Between min-verifier and this is what the rules cost; between this and
// the gate, what the gate's structure costs.
import { hash } from 'node:crypto'
import { readBearer, scopesFromClaims } from '../../packages/core/dist/adapter.js'
import { audienceMatches, decodeCompactJwt } from '../../packages/core/dist/index.js'
import { bytesCheck, ISSUER, RESOURCE } from './jwt.mjs'

// RFC 9068 §4 item 1, as jwtVerifier's default (`typ: 'lenient'`) reads it.
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt', 'application/jwt'])
// RFC 7519 §4.1: the registered claims' JSON types.
const TEXT_CLAIMS = ['iss', 'sub', 'jti', 'client_id', 'azp']
const TIME_CLAIMS = ['exp', 'nbf', 'iat']
const TOLERANCE = 5
const MAX_REMEMBERED = 10_000

/**
 * `verify(authorizationHeader)` gives the caller (`{ token, clientId, scopes, expiresAt, resource,
 * extra }`, frozen, `extra.fingerprint` set), or `undefined` when the request carries no token
 * the rules accept; the scope is the caller's to check. Throws on a malformed header, as
 * readBearer does. `check(data, signature)` replaces the signature check (a bench of what is around it).
 */
export function rulesVerifier(alg, jwk, { check = bytesCheck(alg, jwk) } = {}) {
  const resource = new URL(RESOURCE)
  const known = new Map()
  const verifyNew = (token) => {
    // One spelling per part (RFC 7515), UTF-8 (RFC 8725 §3.7), no repeated member names.
    const { header, payload: claims, signingInput, signature } = decodeCompactJwt(token)
    if (header.alg !== alg || header.crit !== undefined) return undefined
    if (header.typ !== undefined && !ACCESS_TOKEN_TYPES.has(header.typ.toLowerCase())) return undefined
    if (!check(Buffer.from(signingInput, 'latin1'), signature)) return undefined
    for (const name of TEXT_CLAIMS) {
      if (claims[name] !== undefined && typeof claims[name] !== 'string') return undefined
    }
    for (const name of TIME_CLAIMS) {
      if (claims[name] !== undefined && !Number.isFinite(claims[name])) return undefined
    }
    const { aud, exp, nbf, iat } = claims
    if (typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
      return undefined
    }
    const now = Math.floor(Date.now() / 1000)
    if (
      claims.iss !== ISSUER ||
      !audienceMatches(aud, [RESOURCE]) ||
      !(exp > now - TOLERANCE) ||
      nbf > now + TOLERANCE ||
      iat > now + TOLERANCE ||
      claims.cnf !== undefined // a sender-constrained token is not a bearer token
    ) {
      return undefined
    }
    // The deny list's and the logs' name for the token: SHA-256 of what the issuer signed.
    const fingerprint = hash('sha256', signingInput, 'base64url').slice(0, 16)
    const extra = Object.freeze({
      sub: claims.sub,
      iss: claims.iss,
      fingerprint,
      claims: Object.freeze(claims),
    })
    const scopes = Object.freeze(scopesFromClaims(claims))
    const clientId = claims.client_id ?? claims.azp ?? ''
    return Object.freeze({ token, clientId, scopes, expiresAt: exp, resource, extra })
  }
  return (authorization) => {
    // RFC 6750 §2.1: the Bearer scheme and one token68.
    const { token } = readBearer({ authorization })
    if (token === undefined) return undefined
    let auth = known.get(token)
    if (auth === undefined) {
      auth = verifyNew(token)
      if (auth === undefined) return undefined
      // Bounded as min-verifier's is: emptied when full (no LRU order, no expiry).
      if (known.size >= MAX_REMEMBERED) known.clear()
      known.set(token, auth)
    }
    return auth
  }
}
