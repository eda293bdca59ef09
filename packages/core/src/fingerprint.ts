import { createHash } from 'node:crypto'

/**
 * A short, non-reversible identifier of a token for logs and cache keys: the first 16 characters
 * of the base64url SHA-256 (96 bits). The token itself is never logged or used as a key.
 */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 16)
}

/** A full-length hash of a token, for cache keys where collisions must be out of reach. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}
