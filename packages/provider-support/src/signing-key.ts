// Fresh private keys for an authorization server's key file.
import { randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'

/** A fresh private signing key for `alg`, with `kid` = its RFC 7638 thumbprint and `use: sig`. */
export async function generateSigningKey(alg: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' }
}

/** 256 random bits, base64url (43 characters): a client secret, a cookie key, an AES-256 key. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url')
}
