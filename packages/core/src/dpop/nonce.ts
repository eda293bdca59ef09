import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Server-issued DPoP nonces (RFC 9449 §9) without state: a nonce is the number of the current
 * period and an HMAC of it under a secret, so any instance that holds the secret can check one and
 * none has to remember what it handed out. A nonce is accepted during its own period and the next,
 * so a client that just received one always has at least one full period to use it; past that the
 * client is told `use_dpop_nonce` again with a fresh one. A nonce made under another secret (another
 * server, or this one before its secret changed) never verifies.
 */
export interface DpopNonces {
  /** The nonce to hand out now (`DPoP-Nonce`, RFC 9449 §8.1). */
  current(nowMs: number): string
  /** Whether `nonce` was made by this server and is still fresh. Constant-time in the MAC. */
  isValid(nonce: string, nowMs: number): boolean
}

const MAC_BYTES = 16
const PERIOD_BYTES = 6

/**
 * @param secret shared by every instance that serves the resource (at least 32 bytes); a random
 *   one per process when omitted, which suits a single instance.
 * @param periodSeconds how long one nonce is handed out; it stays valid one period more.
 * @param context binds nonces to one resource, so a nonce of one resource is no nonce of another.
 */
export function dpopNonces(
  secret: Uint8Array | undefined,
  periodSeconds: number,
  context: string,
): DpopNonces {
  const key = secret ?? randomBytes(32)
  const periodMs = periodSeconds * 1000
  const macOf = (period: number) => {
    const counter = Buffer.alloc(PERIOD_BYTES)
    counter.writeUIntBE(period, 0, PERIOD_BYTES)
    const mac = createHmac('sha256', key).update('portcullis dpop nonce\0').update(context).update('\0')
    return { counter, mac: mac.update(counter).digest().subarray(0, MAC_BYTES) }
  }
  let cached: { period: number; nonce: string } | undefined
  return {
    current(nowMs) {
      const period = Math.floor(nowMs / periodMs)
      if (cached?.period !== period) {
        const { counter, mac } = macOf(period)
        cached = { period, nonce: Buffer.concat([counter, mac]).toString('base64url') }
      }
      return cached.nonce
    },
    isValid(nonce, nowMs) {
      if (nonce.length !== Math.ceil(((PERIOD_BYTES + MAC_BYTES) * 4) / 3)) return false
      const bytes = Buffer.from(nonce, 'base64url')
      if (bytes.length !== PERIOD_BYTES + MAC_BYTES) return false
      const period = bytes.readUIntBE(0, PERIOD_BYTES)
      const now = Math.floor(nowMs / periodMs)
      // Its own period or the one after it; one from the future was never handed out.
      if (period !== now && period !== now - 1) return false
      return timingSafeEqual(macOf(period).mac, bytes.subarray(PERIOD_BYTES))
    },
  }
}
