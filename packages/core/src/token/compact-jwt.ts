import { isUtf8 } from 'node:buffer'
import { deepFreeze } from '../support/deep-freeze.js'
import { invalidToken } from '../support/errors.js'

/** The JOSE header of a signed JWT, as far as Portcullis reads it. Other members are kept as-is. */
export interface JwsHeader extends Record<string, unknown> {
  alg: string
  kid?: string
  typ?: string
  cty?: string
  crit?: string[]
}

/** A compact JWS split and decoded, signature not yet checked. */
export interface DecodedJwt {
  header: JwsHeader
  payload: Record<string, unknown>
  /** `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers (RFC 7515 §5.2). */
  signingInput: string
  signature: Buffer
}

/**
 * Splits and decodes a compact JWS without verifying it. Strict where the specs allow a choice:
 * exactly three parts, canonical unpadded base64url, UTF-8 JSON objects without duplicate member
 * names, no nested JWT. Every failure is a PortcullisError `invalid_token`.
 *
 * @example
 * const { header, payload } = decodeCompactJwt(token)
 * header.alg // 'RS256'
 */
export function decodeCompactJwt(token: string): DecodedJwt {
  if (typeof token !== 'string') throw invalidToken('token_malformed', 'token is not a string')
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (second < 0 || token.indexOf('.', second + 1) >= 0) {
    // RFC 7516 §7.1: a compact JWE has five parts. Portcullis holds no decryption keys.
    if (token.split('.').length === 5) {
      throw invalidToken('token_encrypted', 'encrypted tokens (JWE) are not accepted')
    }
    throw invalidToken('token_malformed', 'token is not a compact JWS of three parts')
  }
  const header = decodeHeader(token.slice(0, first))
  const payload = decodeJsonPart(token.slice(first + 1, second), 'payload')
  // An empty signature decodes (RFC 7519 §6.1, alg none); the verifier's allow-list refuses it.
  const signature = decodeBase64url(token.slice(second + 1))
  if (signature === undefined) throw invalidToken('token_malformed', 'signature is not base64url')
  return { header, payload, signingInput: token.slice(0, second), signature }
}

// Headers decoded lately, frozen, by their text: an issuer signs every token with one of a few
// headers, so a cold token's header is nearly always one seen before (a decode, a parse and a
// duplicate-member check spared). Bounded: a flood of made-up headers only empties it.
const headers = new Map<string, JwsHeader>()
const MAX_HEADERS = 64

function decodeHeader(text: string): JwsHeader {
  const known = headers.get(text)
  if (known !== undefined) return known
  const header = checkHeader(decodeJsonPart(text, 'header'))
  if (headers.size >= MAX_HEADERS) headers.clear()
  headers.set(text, deepFreeze(header))
  return header
}

/**
 * The `iss` claim of a token, unverified: only for choosing which verifier to ask. Never throws;
 * anything unreadable gives `undefined`.
 *
 * @example
 * const verifier = verifiers[peekIssuer(token) ?? ''] ?? opaqueVerifier
 */
export function peekIssuer(token: string): string | undefined {
  try {
    if (typeof token !== 'string') return undefined
    const first = token.indexOf('.')
    const second = first < 0 ? -1 : token.indexOf('.', first + 1)
    if (second < 0) return undefined
    const bytes = decodeBase64url(token.slice(first + 1, second))
    if (bytes === undefined) return undefined
    const payload: unknown = JSON.parse(bytes.toString('utf8'))
    if (!isJsonObject(payload)) return undefined
    return typeof payload.iss === 'string' ? payload.iss : undefined
  } catch {
    return undefined
  }
}

/**
 * RFC 7515 §2: base64url without padding, strictly: Node's decoder skips what it does not
 * understand (padding, whitespace, stray characters), reads `+/` as `-_`, ignores non-zero spare
 * bits, and reads only the low byte of a character beyond Latin-1 (`'QUJ\u0144'` decodes as
 * `'QUJD'`), so the input is accepted only if it is exactly the canonical encoding of what it
 * decodes to (RFC 4648 §3.5). One token has exactly one spelling. Encoding again costs about
 * 0.1 µs per part more than checking the length, `+/` and the spare bits, and unlike those it
 * needs no list of decoder quirks to be complete; cheaper than a regular expression over the text.
 */
export function decodeBase64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}

function decodeJsonPart(part: string, which: 'header' | 'payload'): Record<string, unknown> {
  const bytes = decodeBase64url(part)
  if (bytes === undefined || bytes.length === 0) {
    throw invalidToken('token_malformed', `${which} is not base64url`)
  }
  // RFC 8725 §3.7: UTF-8 only.
  if (!isUtf8(bytes)) throw invalidToken('token_malformed', `${which} is not UTF-8`)
  const text = bytes.toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw invalidToken('token_malformed', `${which} is not JSON`)
  }
  if (!isJsonObject(value)) throw invalidToken('token_malformed', `${which} is not a JSON object`)
  // RFC 7515 §4 / RFC 7519 §4: member names must be unique; JSON.parse silently keeps the last.
  if (countMemberNames(text) !== countProperties(value)) {
    throw invalidToken('token_malformed', `${which} repeats a member name`)
  }
  return value
}

function checkHeader(header: Record<string, unknown>): JwsHeader {
  const { alg, kid, typ, cty, crit } = header
  if (typeof alg !== 'string' || alg === '') throw invalidToken('header_invalid', 'alg is missing')
  if (kid !== undefined && typeof kid !== 'string')
    throw invalidToken('header_invalid', 'kid is not a string')
  if (typ !== undefined && typeof typ !== 'string')
    throw invalidToken('header_invalid', 'typ is not a string')
  if (cty !== undefined && typeof cty !== 'string')
    throw invalidToken('header_invalid', 'cty is not a string')
  // RFC 7515 §4.1.11: a non-empty list of non-empty names.
  if (
    crit !== undefined &&
    (!Array.isArray(crit) ||
      crit.length === 0 ||
      crit.some((name) => typeof name !== 'string' || name === ''))
  ) {
    throw invalidToken('header_invalid', 'crit is not a list of names')
  }
  // RFC 7519 §5.2: cty "JWT" marks a nested token; RFC 8725 §3.3 would demand both layers be checked.
  if (typeof cty === 'string' && cty.toUpperCase() === 'JWT') {
    throw invalidToken('token_nested', 'nested tokens are not accepted')
  }
  return header as JwsHeader
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * In valid JSON every ':' outside a string follows exactly one member name, so this counts the
 * member names as written, duplicates included. Strings are skipped with indexOf (native), so
 * the JavaScript loop only walks the short stretches between strings.
 */
function countMemberNames(text: string): number {
  let count = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const open = text.indexOf('"', i)
    const end = open < 0 ? n : open
    for (let j = i; j < end; j++) if (text.charCodeAt(j) === 0x3a) count++
    if (open < 0) break
    let close = open
    for (;;) {
      close = text.indexOf('"', close + 1)
      if (close < 0) return count // unterminated: cannot happen after JSON.parse succeeded
      let backslashes = 0
      while (text.charCodeAt(close - 1 - backslashes) === 0x5c) backslashes++
      if ((backslashes & 1) === 0) break // an even run of backslashes escapes itself, not the quote
    }
    i = close + 1
  }
  return count
}

/** Own properties of every object in a parsed JSON value; iterative, so depth cannot overflow the stack. */
function countProperties(root: unknown): number {
  let count = 0
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value !== 'object' || value === null) continue
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'object' && item !== null) stack.push(item)
    } else {
      const keys = Object.keys(value)
      count += keys.length
      for (const key of keys) {
        const item = (value as Record<string, unknown>)[key]
        if (typeof item === 'object' && item !== null) stack.push(item)
      }
    }
  }
  return count
}
