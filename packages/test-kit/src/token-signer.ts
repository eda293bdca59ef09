import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'

/** A JWT claims set; any value, so tests can mint wrong types (`iss: 42`) on purpose. */
export type Claims = Record<string, unknown>

export type SigningAlg = 'ES256' | 'RS256' | 'PS256' | 'EdDSA'

export interface TokenSignerOptions {
  /** Default `ES256`. */
  alg?: SigningAlg
  /** Default `key-1`. */
  kid?: string
  /** The `typ` header; default `at+jwt` (RFC 9068 §2.1). */
  typ?: string
  /** Claims every token carries unless `mint`'s claims override them. */
  claims?: Claims
  /** Seconds from `iat` to `exp`; default 300. */
  lifetime?: number
}

export interface MintOptions {
  /** Signs with another key of the same algorithm under the same `kid`: the signature fails. */
  forged?: boolean
  /** Protected header parameters over the signer's `alg`, `kid` and `typ`. */
  header?: Record<string, unknown>
}

export interface TokenSigner {
  /** The public key as a key set publishes it (`kid`, `alg`, `use: sig`). */
  publicJwk: JWK
  /**
   * A signed JWT: the signer's claims, `iat` now and `exp` after the lifetime, then `claims` over
   * them (a claim set to `undefined` is left out).
   */
  mint(claims?: Claims, options?: MintOptions): Promise<string>
}

/**
 * One signing key made for the test run, minting access tokens the way an authorization server
 * does. Tests that forge something unusual (raw payload bytes, `crit`, HMAC key confusion) build
 * their tokens by hand instead.
 */
export async function tokenSigner(options: TokenSignerOptions = {}): Promise<TokenSigner> {
  const { alg = 'ES256', kid = 'key-1', typ = 'at+jwt', claims: defaults = {}, lifetime = 300 } = options
  const trusted = await generateKeyPair(alg, { extractable: true })
  let attacker: Promise<CryptoKey> | undefined
  const attackerKey = () => {
    attacker ??= generateKeyPair(alg).then((pair) => pair.privateKey)
    return attacker
  }
  return {
    publicJwk: { ...(await exportJWK(trusted.publicKey)), kid, alg, use: 'sig' },
    async mint(claims = {}, mintOptions = {}) {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({ ...defaults, iat: now, exp: now + lifetime, ...claims })
        .setProtectedHeader({ alg, kid, typ, ...mintOptions.header })
        .sign(mintOptions.forged === true ? await attackerKey() : trusted.privateKey)
    },
  }
}
