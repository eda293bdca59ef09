// What a DPoP request carries (RFC 9449 §4.1, §7.1): the DPoP credential, the one proof, the URL.
import { invalidRequest, PortcullisError } from '../support/errors.js'

// RFC 9110 §11.2 token68.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

export type DpopCredential =
  | { kind: 'dpop'; token: string }
  | { kind: 'bearer' }
  | { kind: 'other' }
  | { kind: 'malformed'; error: PortcullisError }

/**
 * The scheme of an Authorization header, and the token of a `DPoP` one (RFC 9449 §7.1:
 * `Authorization: DPoP <token68>`). Anything that is not one well-formed DPoP credential is left to
 * the bearer rules (absent, repeated, another scheme).
 */
export function readDpopCredential(authorization: string | string[] | undefined): DpopCredential {
  let header = authorization
  if (Array.isArray(header)) {
    if (header.length !== 1) return { kind: 'other' }
    header = header[0]
  }
  if (typeof header !== 'string') return { kind: 'other' }
  // RFC 9110 §5.5: only SP and HTAB surround a field value.
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '')
  const space = value.indexOf(' ')
  const scheme = (space < 0 ? value : value.slice(0, space)).toLowerCase()
  if (scheme === 'bearer') return { kind: 'bearer' }
  if (scheme !== 'dpop') return { kind: 'other' }
  const token = space < 0 ? '' : value.slice(space + 1).replace(/^ +/, '')
  if (!TOKEN68.test(token)) {
    return {
      kind: 'malformed',
      error: invalidRequest(
        'header_malformed',
        'Malformed Authorization header: the DPoP credential must be a single token68 value (RFC 9449 §7.1)',
      ),
    }
  }
  return { kind: 'dpop', token }
}

/** RFC 9449 §4.3 step 1: exactly one `DPoP` header, one value. */
export function singleProof(dpop: string | string[] | undefined): string {
  const values = dpop === undefined ? [] : Array.isArray(dpop) ? dpop : [dpop]
  if (values.length === 0 || values[0] === '') {
    throw new PortcullisError(
      'invalid_dpop_proof',
      'dpop_proof_missing',
      'A DPoP proof is required in the DPoP header with the DPoP scheme',
    )
  }
  if (values.length > 1) {
    throw new PortcullisError(
      'invalid_dpop_proof',
      'dpop_proof_invalid',
      'Invalid DPoP proof: more than one DPoP header',
    )
  }
  return values[0]!.trim()
}

/**
 * The URL the client used (RFC 9449 §4.3 step 9): the origin of the configured resource, never the
 * Host header, and the path of the request target, query and fragment dropped. `undefined` for a
 * target that names no path, which no `htu` matches.
 */
export function requestUrl(resource: URL, target: string): URL | undefined {
  let end = target.length
  const query = target.indexOf('?')
  if (query >= 0) end = query
  const fragment = target.indexOf('#')
  if (fragment >= 0 && fragment < end) end = fragment
  let pathname = target.slice(0, end)
  if (pathname === resource.pathname) return resource
  // RFC 9112 §3.2.2: an absolute-form target names its path after the authority.
  if (!pathname.startsWith('/')) {
    if (!URL.canParse(pathname)) return undefined
    pathname = new URL(pathname).pathname
  }
  // Concatenated, not resolved: "//host/x" is a path here, never another authority.
  return URL.canParse(`${resource.origin}${pathname}`) ? new URL(`${resource.origin}${pathname}`) : undefined
}

/**
 * The `DPoP` header values of a Node.js request, from `rawHeaders`: Node joins repeated unknown
 * headers into one with commas, which would hide a second proof (RFC 9449 §4.3 step 1).
 *
 * @example
 * gate.authenticate({ authorization, dpop: dpopHeaders(req.rawHeaders), method: req.method, path: req.url })
 */
export function dpopHeaders(rawHeaders: readonly string[]): string | string[] | undefined {
  let found: string | string[] | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== 4 || name.toLowerCase() !== 'dpop') continue
    const value = rawHeaders[i + 1]!
    found = found === undefined ? value : Array.isArray(found) ? [...found, value] : [found, value]
  }
  return found
}
