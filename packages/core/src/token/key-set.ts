import type { KeyObject } from 'node:crypto'
import type { JwsAlgorithm } from './jws-algorithms.js'

/** A public key bound to exactly one algorithm (RFC 8725 §3.1), ready to verify. */
export interface VerificationKey {
  readonly kid: string | undefined
  readonly alg: JwsAlgorithm
  readonly key: KeyObject
  /** Checks a signature over `data`; false for any failure, never throws. */
  verify(data: Buffer, signature: Buffer): boolean
  /** `verify` on libuv's thread pool; resolves false for any failure. Optional for key sets of your own. */
  verifyOnThreadPool?(data: Buffer, signature: Buffer): Promise<boolean>
}

export interface IgnoredKey {
  kid?: string
  reason: string
}

export interface KeySetStatus {
  /** When the key set document was last fetched successfully (ms since the epoch). */
  lastFetchAt: number | undefined
  /** Why the last fetch failed, if it did and no fetch succeeded since. */
  lastError: string | undefined
  /** Keys are past their cache lifetime and in use only because a refresh failed (stale-if-error). */
  stale: boolean
  /** When the held keys went past their lifetime (ms since the epoch), while `stale`. */
  staleSince?: number
  /** Usable keys held. */
  keys: number
  /** Keys of the document that were left out, and why. */
  ignored: IgnoredKey[]
}

/** Where a verifier gets its keys: a remote JWKS or a fixed list. */
export interface KeySet {
  /**
   * The one key for a token's `alg` and `kid`. Throws PortcullisError `invalid_token` (kid_unknown,
   * key_unsuitable) or `temporarily_unavailable` (jwks_unavailable).
   */
  getKey(header: { alg: string; kid?: string | undefined }): Promise<VerificationKey>
  /**
   * The key `getKey` would give at once, without waiting, when the set holds it and needs no
   * fetch first; `undefined` otherwise (then `getKey` decides). May throw what `getKey` would
   * (key_unsuitable). Optional: it spares a promise on every new token.
   */
  heldKey?(header: { alg: string; kid?: string | undefined }): VerificationKey | undefined
  status(): KeySetStatus
}

export interface RemoteKeySet extends KeySet {
  readonly jwksUri: string
  /** Fetches the document now (shares a fetch already under way). */
  refresh(): Promise<void>
}
