// Tokens for the in-process benches: a key pair per algorithm, JWTs signed in this thread with
// node:crypto, and the raw node:crypto verify of them (the physical limit a verifier is held to).
// The HTTP bench mints its larger pools on every core with ../token-mint.mjs.
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'

export const ISSUER = 'https://issuer.example'
export const RESOURCE = 'https://bench.example'
export const SCOPE = 'bench:read'
export const HELLO = { hello: 'world' }

/** A fresh key pair of the algorithm (RS256: RSA 2048, ES256: P-256, EdDSA: Ed25519). */
export function keyPair(alg) {
  if (alg === 'RS256') return generateKeyPairSync('rsa', { modulusLength: 2048 })
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' })
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519')
  throw new Error(`unknown algorithm ${alg}`)
}

/** The public JWK a verifier is given for `publicKey`. */
export const publicJwk = (publicKey, alg, kid = 'k1') => ({
  ...publicKey.export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
})

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
// RFC 7518 §3.4: an ES256 signature is R || S (IEEE P1363), not DER.
const keyOptions = (alg, key) => (alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key)
const digestOf = (alg) => (alg === 'EdDSA' ? null : 'sha256')

/**
 * `count` distinct access tokens (RFC 9068 shape, `typ: at+jwt`), numbered from `from`: each its
 * own `sub` and `jti`. `claims` overrides or adds members (iss, aud, scope, ...).
 */
export function mintJwts({ alg, privateKey, count, from = 0, kid = 'k1', claims = {}, jtiPrefix = 'bench' }) {
  const header = b64({ alg, typ: 'at+jwt', kid })
  const now = Math.floor(Date.now() / 1000)
  const options = keyOptions(alg, privateKey)
  const tokens = new Array(count)
  for (let i = 0; i < count; i++) {
    const n = from + i
    const payload = b64({
      iss: ISSUER,
      aud: RESOURCE,
      client_id: 'bench-client',
      scope: `${SCOPE} bench:write`,
      iat: now,
      exp: now + 3600,
      sub: `user-${n}`,
      jti: `${jtiPrefix}-${n}`,
      ...claims,
    })
    const input = `${header}.${payload}`
    const signature = sign(digestOf(alg), Buffer.from(input), options).toString('base64url')
    // One flat string, as a token read from a request is: a concatenation would be flattened (a
    // copy of the whole token) the first time a verifier slices it, a cost no served request pays.
    tokens[i] = Buffer.from(`${input}.${signature}`, 'latin1').toString('latin1')
  }
  return tokens
}

/**
 * The raw check of compact JWS tokens: `verifier(i)` runs `crypto.verify` of token i with a ready
 * KeyObject over inputs decoded beforehand, and throws on a bad signature.
 */
export function rawVerifier(alg, jwk, tokens) {
  const check = bytesCheck(alg, jwk)
  const parts = tokens.map((token) => {
    const dot = token.lastIndexOf('.')
    return [Buffer.from(token.slice(0, dot)), Buffer.from(token.slice(dot + 1), 'base64url')]
  })
  return (i) => {
    const [data, signature] = parts[i % parts.length]
    if (!check(data, signature)) throw new Error('raw verify: bad signature')
  }
}

/** node:crypto's verify of `signature` over `data` with the public key `jwk`, as `(data, signature) => boolean`. */
export function bytesCheck(alg, jwk) {
  const options = keyOptions(alg, createPublicKey({ key: jwk, format: 'jwk' }))
  const digest = digestOf(alg)
  return (data, signature) => verify(digest, data, options, signature)
}

/** A check of one token's signature from scratch (decode the signature, verify), for a hook. */
export function signatureCheck(alg, jwk) {
  const check = bytesCheck(alg, jwk)
  return (token) => {
    const dot = token.lastIndexOf('.')
    return check(Buffer.from(token.slice(0, dot), 'latin1'), Buffer.from(token.slice(dot + 1), 'base64url'))
  }
}

/**
 * The least any correct verifier does per new token, with nothing Portcullis adds (no strict
 * base64url or duplicate-member check, no typ, nbf or iat, no fingerprint, no LRU order, no frozen
 * answer): parse, verify, check the claims a route needs, remember the answer (bounded).
 * `verify(token)` gives the caller (`{ token, scopes, expiresAt, claims }`), or `undefined` when
 * the token is refused; the scope is the caller's to check.
 */
export function minVerifier(alg, jwk) {
  const check = signatureCheck(alg, jwk)
  const known = new Map()
  return (token) => {
    const remembered = known.get(token)
    if (remembered !== undefined) return remembered
    const [head, body] = token.split('.')
    const header = JSON.parse(Buffer.from(head, 'base64url').toString())
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString())
    if (
      header.alg !== alg ||
      !check(token) ||
      claims.iss !== ISSUER ||
      claims.aud !== RESOURCE ||
      !(claims.exp > Date.now() / 1000)
    )
      return undefined
    const auth = { token, scopes: String(claims.scope).split(' '), expiresAt: claims.exp, claims }
    if (known.size >= 10_000) known.clear()
    known.set(token, auth)
    return auth
  }
}
