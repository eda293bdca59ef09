import { z } from 'zod'
import { invalidToken } from '../support/errors.js'

/**
 * True for hosts that only this machine can reach: `localhost`, 127.0.0.0/8 and `[::1]`
 * (RFC 6761 §6.3, RFC 1122 §3.2.1.3, RFC 4291 §2.5.3). Plain http is allowed there for development.
 * Accepts a URL `hostname` (IPv6 in brackets) or a bare IPv6 address. A port is not allowed.
 *
 * @example
 * isLoopbackHost(new URL('http://127.0.0.1:3000/mcp').hostname) // true
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost' || h === '[::1]' || h === '::1') return true
  return LOOPBACK_V4.test(h)
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const LOOPBACK_V4 = new RegExp(`^127(?:\\.${OCTET}){3}$`)

/**
 * Why `url` may not be used where traffic must be protected (resource and issuer identifiers,
 * key sets, metadata and introspection endpoints), or `undefined` when it may: an absolute https
 * URL, or plain http on a loopback host, where no network is crossed (development and tests). The
 * answer completes a sentence about the URL: `` `jwksUri ${problem}` ``.
 *
 * @example
 * secureUrlProblem('https://idp.example.com/jwks') // undefined
 * secureUrlProblem('http://127.0.0.1:8080/jwks') // undefined
 * secureUrlProblem('http://idp.example.com/jwks') // 'must use https (http is allowed only on loopback hosts)'
 */
export function secureUrlProblem(url: string | URL): string | undefined {
  let parsed: URL
  if (url instanceof URL) parsed = url
  else if (typeof url === 'string' && URL.canParse(url)) parsed = new URL(url)
  else return 'is not an absolute URL'
  if (parsed.protocol === 'https:') return undefined
  if (parsed.protocol !== 'http:') return `must use https (got ${parsed.protocol.slice(0, -1)})`
  // RFC 9728 §7.1 and RFC 8414 §2 require https; plain http only where no network is crossed.
  return isLoopbackHost(parsed.hostname)
    ? undefined
    : 'must use https (http is allowed only on loopback hosts)'
}

/**
 * The canonical form of a resource URL, the value a token's `aud` must carry (RFC 8707 §2,
 * RFC 9728 §2, MCP "Canonical Server URI"): lower-case scheme and host, no default port, no
 * fragment, no userinfo, query kept, and no trailing slash (`https://a.example/` and
 * `https://a.example` are the same resource; so are `/mcp/` and `/mcp`). Trailing slashes are
 * all removed, so the canonical form never ends in `/`.
 *
 * Throws a TypeError naming the problem for anything that is not an absolute https URL (http is
 * allowed on loopback hosts only), for a fragment (RFC 9728 §1.2) and for userinfo.
 *
 * @example
 * canonicalResource('HTTPS://MCP.Example.com:443/mcp/') // 'https://mcp.example.com/mcp'
 */
export function canonicalResource(url: string | URL): string {
  const result = canonicalise(url)
  if (typeof result === 'string') return result
  throw new TypeError(result.problem)
}

/** The canonical form, or the problem that prevents one. No exceptions: audiences are checked on the hot path. */
function canonicalise(url: string | URL): string | { problem: string } {
  let parsed: URL
  if (url instanceof URL) {
    parsed = url
  } else if (typeof url === 'string') {
    if (!URL.canParse(url)) return { problem: `Resource URL ${quote(url)} is not an absolute URL` }
    parsed = new URL(url)
  } else {
    return { problem: 'Resource URL must be a string or a URL' }
  }
  // RFC 9728 §1.2 / RFC 8707 §2: an identifier with a fragment is invalid. An empty fragment
  // ("#" at the end) leaves `hash` empty, so look at href: a "#" there can only start a fragment.
  if (parsed.href.includes('#'))
    return { problem: `Resource URL ${quote(parsed.href)} must not contain a fragment` }
  if (parsed.username !== '' || parsed.password !== '') {
    return {
      problem: `Resource URL ${quote(redactUserinfo(parsed))} must not contain credentials (userinfo)`,
    }
  }
  const insecure = secureUrlProblem(parsed)
  if (insecure !== undefined) return { problem: `Resource URL ${quote(parsed.href)} ${insecure}` }
  const path = parsed.pathname
  let end = path.length
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--
  // `host` is lower-cased and drops the scheme's default port (WHATWG URL); `search` is '' for a bare '?'.
  return `${parsed.protocol}//${parsed.host}${path.slice(0, end)}${parsed.search}`
}

/**
 * Whether a token's `aud` claim (a string or an array of strings, RFC 7519 §4.1.3) names one of
 * the `expected` audiences. `expected` values are given already canonical (see
 * `canonicalResource`). Each `aud` value matches if it equals an expected value as is (non-URL
 * audiences such as `api://notes` or `account`) or once canonicalised (`HTTPS://A.example/mcp/`).
 * Values of other types never match.
 *
 * @example
 * audienceMatches(['account', 'https://mcp.example.com/mcp/'], ['https://mcp.example.com/mcp']) // true
 */
export function audienceMatches(aud: unknown, expected: readonly string[]): boolean {
  if (expected.length === 0) return false
  if (typeof aud === 'string') return audienceValueMatches(aud, expected)
  if (!Array.isArray(aud)) return false
  for (const value of aud) {
    if (typeof value === 'string' && audienceValueMatches(value, expected)) return true
  }
  return false
}

/**
 * The resource a token bound by client (`client_id`, `azp`) names when it carries an `aud` all the
 * same (Cognito's resource binding): one of `expected` (given canonical, see `canonicalResource`),
 * or without `expected` the one http(s) URL in `aud`, for the gate to compare with its own
 * resource (RFC 8707 §2). `undefined` when the matched audience is no URL. Throws `invalid_token`
 * `audience_mismatch` for anything else: a token must not name a recipient nobody checks.
 *
 * @example
 * audienceResource('https://mcp.example.com/mcp/')?.href // 'https://mcp.example.com/mcp'
 */
export function audienceResource(aud: unknown, expected?: readonly string[]): URL | undefined {
  if (expected !== undefined) {
    const match = expected.find((value) => audienceMatches(aud, [value]))
    if (match === undefined) throw invalidToken('audience_mismatch', 'token is meant for another audience')
    return /^https?:\/\//i.test(match) ? new URL(match) : undefined
  }
  const urls = new Set<string>()
  for (const value of Array.isArray(aud) ? aud : [aud]) {
    const canonical =
      typeof value === 'string' && /^https?:\/\//i.test(value) ? canonicalise(value) : undefined
    if (typeof canonical === 'string') urls.add(canonical)
  }
  if (urls.size !== 1) {
    throw invalidToken(
      'audience_mismatch',
      urls.size === 0
        ? 'token names an audience (aud) that is not a resource URL; configure the audiences this server accepts'
        : 'token names several resources (aud); configure the audience this server accepts',
    )
  }
  return new URL([...urls][0]!)
}

function audienceValueMatches(value: string, expected: readonly string[]): boolean {
  if (expected.includes(value)) return true
  const canonical = canonicalise(value)
  return typeof canonical === 'string' && expected.includes(canonical)
}

// Long inputs are cut in messages: the message names the problem, not a megabyte of URL.
const quote = (value: string) => JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value)

const redactUserinfo = (url: URL) => {
  const copy = new URL(url.href)
  copy.username = ''
  copy.password = ''
  return copy.href
}

/** zod schema of a resource URL option: a string, parsed to its canonical form (`canonicalResource`). */
export const resourceUrlSchema = z.string().transform((value, ctx) => {
  try {
    return canonicalResource(value)
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message })
    return z.NEVER
  }
})

/**
 * True when `value` names the resource whose canonical form is `canonical`; false for another one
 * or for text that is no resource URL (never throws). RFC 8707 §2: compared canonically.
 *
 * @example
 * sameResource('HTTPS://MCP.example.com:443/mcp', 'https://mcp.example.com/mcp') // true
 */
export function sameResource(value: URL | string, canonical: string): boolean {
  try {
    return canonicalResource(value) === canonical
  } catch {
    return false
  }
}
