import { tokenFingerprint } from './fingerprint.js'

// AuthInfos whose `extra.fingerprint` a Portcullis verifier computed itself (the deny list keys
// revocations by it, so a custom verifier's value is never taken on trust). A jwtVerifier's answer
// is in `jwts` only (vouched for both): a new token costs one weak-set insert, not two.
const vouched = new WeakSet<object>()

/** Marks `authInfo.extra.fingerprint` as the true `tokenFingerprint` of `authInfo.token`; returns `authInfo`. */
export function vouchFingerprint<T extends { extra?: { fingerprint?: string } }>(authInfo: T): T {
  if (typeof authInfo.extra?.fingerprint === 'string') vouched.add(authInfo)
  return authInfo
}

/**
 * The `tokenFingerprint` of `authInfo.token`: the one its verifier vouched for, else computed (a
 * SHA-256 spared on every request that a built-in verifier answers).
 */
export function fingerprintOf(authInfo: { token: string; extra?: { fingerprint?: string } }): string {
  return jwts.has(authInfo) || vouched.has(authInfo)
    ? (authInfo.extra!.fingerprint as string)
    : tokenFingerprint(authInfo.token)
}

// AuthInfos a jwtVerifier made: their token is a compact JWS whose payload names `extra.iss`, and
// their `extra.fingerprint` is the token's.
const jwts = new WeakSet<object>()

/**
 * Marks `authInfo` as made by a jwtVerifier from the token's own claims, its `extra.fingerprint`
 * (a string) computed from the token; returns `authInfo`.
 */
export function vouchJwt<T extends { extra: { fingerprint: string } }>(authInfo: T): T {
  jwts.add(authInfo)
  return authInfo
}

/** Whether a jwtVerifier made `authInfo` (so `extra.iss` is the `iss` of `authInfo.token`). */
export const isVouchedJwt = (authInfo: object): boolean => jwts.has(authInfo)
