import { isScopeToken, OFFLINE_ACCESS } from './scopes.js'

export interface BearerChallengeParams {
  /** `realm` (RFC 6750 §3). Printable ASCII without `"` or `\`. */
  realm?: string
  /** `error`: `invalid_request`, `invalid_token`, `insufficient_scope` (RFC 6750 §3.1). Omitted when there are no credentials. */
  error?: string
  /** `error_description`: sanitised, never rejected (characters outside RFC 6750 §3 are replaced). */
  errorDescription?: string
  /** `scope`: the scopes the operation needs. `offline_access` is dropped (MCP 2026-07-28, SEP-2207). */
  scope?: readonly string[]
  /** `resource_metadata`: the URL of the protected resource metadata document (RFC 9728 §5.1). */
  resourceMetadata?: string
}

// RFC 6750 §3: error and error_description values use %x20-21 / %x23-5B / %x5D-7E.
const ERROR_CHARS = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/
const ERROR_CHAR = /[\x20\x21\x23-\x5B\x5D-\x7E]/
/** Longest `error_description` emitted, in characters: headers are not the place for essays. */
export const MAX_ERROR_DESCRIPTION_LENGTH = 512

/**
 * Builds a `WWW-Authenticate` value for the Bearer scheme (RFC 6750 §3, RFC 9728 §5.1), parameters
 * always in the order realm, error, error_description, scope, resource_metadata, each a
 * quoted-string. Scopes are validated (RFC 6749 §3.3), deduplicated and `offline_access` dropped;
 * an empty scope list omits `scope`. The description is made safe rather than rejected: `"` becomes
 * `'`, whitespace controls a space and any other character outside RFC 6750 §3 a `?`.
 * Invalid `realm`, `error`, scope or `resourceMetadata` values are programming errors: TypeError.
 *
 * @example
 * bearerChallenge({ error: 'insufficient_scope', scope: ['files:write'], resourceMetadata: url })
 * // 'Bearer error="insufficient_scope", scope="files:write", resource_metadata="https://..."'
 */
export function bearerChallenge(params: BearerChallengeParams): string {
  const parts = challengeParams(params, 'bearerChallenge')
  // RFC 6750 §3: the Bearer scheme MUST be followed by one or more auth-param values.
  if (parts.length === 0)
    throw new TypeError('bearerChallenge: at least one parameter is required (RFC 6750 §3)')
  return `Bearer ${parts.join(', ')}`
}

export interface DpopChallengeParams extends BearerChallengeParams {
  /** `algs`: the JWS algorithms accepted for proofs (RFC 9449 §7.1), at least one. */
  algs: readonly string[]
}

/**
 * Builds a `WWW-Authenticate` value for the DPoP scheme (RFC 9449 §7.1): the parameters of
 * `bearerChallenge` (the error codes include `invalid_dpop_proof` and `use_dpop_nonce`), then
 * `algs`. Same validation and sanitising as `bearerChallenge`.
 *
 * @example
 * dpopChallenge({ error: 'use_dpop_nonce', algs: ['ES256', 'EdDSA'] })
 * // 'DPoP error="use_dpop_nonce", algs="ES256 EdDSA"'
 */
export function dpopChallenge(params: DpopChallengeParams): string {
  const parts = challengeParams(params, 'dpopChallenge')
  if (params.algs.length === 0 || params.algs.some((alg) => !/^[A-Za-z0-9+_.-]+$/.test(alg))) {
    throw new TypeError('dpopChallenge: algs must name at least one JWS algorithm')
  }
  parts.push(`algs="${params.algs.join(' ')}"`)
  return `DPoP ${parts.join(', ')}`
}

function challengeParams(params: BearerChallengeParams, owner: string): string[] {
  const parts: string[] = []
  if (params.realm !== undefined) {
    if (!ERROR_CHARS.test(params.realm)) {
      throw new TypeError(`${owner}: realm must be printable ASCII without '"' or '\\'`)
    }
    parts.push(`realm="${params.realm}"`)
  }
  if (params.error !== undefined) {
    if (!ERROR_CHARS.test(params.error)) {
      throw new TypeError(
        `${owner}: error ${JSON.stringify(params.error)} is not a valid error code (RFC 6750 §3)`,
      )
    }
    parts.push(`error="${params.error}"`)
  }
  if (params.errorDescription !== undefined) {
    const description = sanitiseDescription(params.errorDescription)
    if (description !== '') parts.push(`error_description="${description}"`)
  }
  if (params.scope !== undefined) {
    const scopes: string[] = []
    for (const scope of params.scope) {
      if (!isScopeToken(scope)) {
        throw new TypeError(`${owner}: ${JSON.stringify(scope)} is not a valid scope (RFC 6749 §3.3)`)
      }
      // MCP 2026-07-28 §Refresh Tokens: offline_access SHOULD NOT be in a challenge.
      if (scope !== OFFLINE_ACCESS && !scopes.includes(scope)) scopes.push(scope)
    }
    if (scopes.length > 0) parts.push(`scope="${scopes.join(' ')}"`)
  }
  if (params.resourceMetadata !== undefined) {
    const url = params.resourceMetadata
    if (!ERROR_CHARS.test(url) || url.includes(' ') || !URL.canParse(url)) {
      throw new TypeError(`${owner}: resourceMetadata must be an absolute URL`)
    }
    parts.push(`resource_metadata="${url}"`)
  }
  return parts
}

function sanitiseDescription(value: string): string {
  let out = ''
  let length = 0
  for (const char of value) {
    if (length === MAX_ERROR_DESCRIPTION_LENGTH) {
      out = `${out.slice(0, -3)}...`
      break
    }
    if (ERROR_CHAR.test(char)) out += char
    else if (char === '"') out += "'"
    else if (char === '\t' || char === '\r' || char === '\n') out += ' '
    else out += '?'
    length++
  }
  return out.trim()
}

/** One challenge of a `WWW-Authenticate` value. Parameter names are lower-cased (RFC 9110 §11.2). */
export interface ParsedChallenge {
  scheme: string
  params: Record<string, string>
  /** The token68 form of a challenge (`Negotiate abc==`), instead of parameters. */
  token68?: string
}

// RFC 9110 §5.6.2 tchar.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
// RFC 9110 §11.2 token68 characters before the padding.
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/
// RFC 9110 §5.6.4 qdtext (with obs-text) and the characters a quoted-pair may escape.
const QDTEXT = /[\t \x21\x23-\x5B\x5D-\x7E\x80-\xFF]/
const QUOTED_PAIR_CHAR = /[\t \x21-\x7E\x80-\xFF]/

/**
 * A strict parser of a `WWW-Authenticate` value (RFC 9110 §11.6.1, §11.2):
 * `1#challenge`, `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
 * `auth-param = token BWS "=" BWS ( token / quoted-string )`. Throws a SyntaxError on anything a
 * sender must not produce: empty list elements, surrounding whitespace, a parameter repeated in one
 * challenge (RFC 9110 §11.2, names compared case-insensitively), unterminated quotes, stray characters.
 *
 * @example
 * parseChallenges('Bearer error="invalid_token", scope="a b"')
 * // [{ scheme: 'Bearer', params: { error: 'invalid_token', scope: 'a b' } }]
 */
export function parseChallenges(value: string): ParsedChallenge[] {
  return new ChallengeParser(value).parse()
}

class ChallengeParser {
  #pos = 0
  readonly #s: string

  constructor(value: string) {
    if (typeof value !== 'string') throw new SyntaxError('WWW-Authenticate: expected a string')
    this.#s = value
  }

  parse(): ParsedChallenge[] {
    const challenges: ParsedChallenge[] = []
    if (this.#s.length === 0) this.#fail('empty value')
    for (;;) {
      challenges.push(this.#challenge())
      if (this.#atEnd()) return challenges
      // #challenge stops only at the end or at a list comma that starts the next challenge.
      this.#listSeparator()
    }
  }

  #challenge(): ParsedChallenge {
    const scheme = this.#token('an auth-scheme')
    if (this.#atEnd() || this.#atListSeparator()) return { scheme, params: {} }
    if (this.#peek() !== ' ') this.#fail(`expected a space after the scheme ${JSON.stringify(scheme)}`)
    while (this.#peek() === ' ') this.#pos++
    if (this.#atEnd()) this.#fail('trailing whitespace')

    const token68 = this.#tryToken68()
    if (token68 !== undefined) return { scheme, params: {}, token68 }

    const entries = new Map<string, string>()
    for (;;) {
      const [name, value] = this.#authParam()
      if (entries.has(name)) this.#fail(`parameter ${JSON.stringify(name)} repeated in one challenge`)
      entries.set(name, value)
      if (this.#atEnd()) break
      const mark = this.#pos
      this.#listSeparator()
      // The next list element is either another auth-param (token BWS "=") or a new challenge.
      if (!this.#startsAuthParam()) {
        this.#pos = mark
        break
      }
    }
    return { scheme, params: Object.fromEntries(entries) }
  }

  #authParam(): [string, string] {
    const name = this.#token('a parameter name').toLowerCase()
    this.#ows()
    if (this.#peek() !== '=') this.#fail(`expected "=" after ${JSON.stringify(name)}`)
    this.#pos++
    this.#ows()
    const value =
      this.#peek() === '"' ? this.#quotedString() : this.#token(`a value for ${JSON.stringify(name)}`)
    return [name, value]
  }

  /** A token68 that is the whole credential: followed by the end or a list comma. */
  #tryToken68(): string | undefined {
    const start = this.#pos
    let i = start
    while (i < this.#s.length && TOKEN68_CHAR.test(this.#s[i]!)) i++
    if (i === start) return undefined
    while (this.#s[i] === '=') i++
    const rest = this.#pos
    this.#pos = i
    if (this.#atEnd() || this.#atListSeparator()) {
      // "a=b" style input is an auth-param, not a token68; only padding may follow the characters.
      return this.#s.slice(start, i)
    }
    this.#pos = rest
    return undefined
  }

  #startsAuthParam(): boolean {
    const mark = this.#pos
    let i = mark
    while (i < this.#s.length && TCHAR.test(this.#s[i]!)) i++
    if (i === mark) return false
    while (this.#s[i] === ' ' || this.#s[i] === '\t') i++
    return this.#s[i] === '='
  }

  #quotedString(): string {
    this.#pos++ // opening DQUOTE
    let out = ''
    for (;;) {
      if (this.#atEnd()) this.#fail('unterminated quoted-string')
      const char = this.#s[this.#pos]!
      if (char === '"') {
        this.#pos++
        return out
      }
      if (char === '\\') {
        const next = this.#s[this.#pos + 1]
        if (next === undefined || !QUOTED_PAIR_CHAR.test(next)) this.#fail('invalid quoted-pair')
        out += next
        this.#pos += 2
        continue
      }
      if (!QDTEXT.test(char)) this.#fail('invalid character in quoted-string')
      out += char
      this.#pos++
    }
  }

  #token(what: string): string {
    const start = this.#pos
    while (this.#pos < this.#s.length && TCHAR.test(this.#s[this.#pos]!)) this.#pos++
    if (this.#pos === start) this.#fail(`expected ${what}`)
    return this.#s.slice(start, this.#pos)
  }

  /** OWS "," OWS, with a non-empty element after it (RFC 9110 §5.6.1: senders must not send empty ones). */
  #listSeparator(): void {
    this.#ows()
    if (this.#peek() !== ',') this.#fail('expected ","')
    this.#pos++
    this.#ows()
    if (this.#atEnd()) this.#fail('empty list element at the end')
    if (this.#peek() === ',') this.#fail('empty list element')
  }

  #atListSeparator(): boolean {
    let i = this.#pos
    while (this.#s[i] === ' ' || this.#s[i] === '\t') i++
    return this.#s[i] === ','
  }

  #ows(): void {
    while (this.#peek() === ' ' || this.#peek() === '\t') this.#pos++
  }

  #peek(): string | undefined {
    return this.#s[this.#pos]
  }

  #atEnd(): boolean {
    return this.#pos >= this.#s.length
  }

  #fail(why: string): never {
    throw new SyntaxError(`WWW-Authenticate: ${why} at position ${this.#pos}`)
  }
}
