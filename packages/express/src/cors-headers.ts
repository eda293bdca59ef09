import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Gate } from '@portcullis/core'
import { mergeHeaderList } from '@portcullis/core/adapter'

// How the gate's CORS decision (core's `corsPolicy`) is written onto an Express answer, beside
// whatever CORS layer ran before it.

/**
 * The CORS headers of a gate's answers when they do not depend on the request (`origin: '*'`):
 * made once per gate, not merged anew per request.
 */
const fixedCors = new WeakMap<Gate, ReadonlyArray<readonly [string, string]> | null>()

function fixedCorsHeaders(gate: Gate): ReadonlyArray<readonly [string, string]> | null {
  let fixed = fixedCors.get(gate)
  if (fixed === undefined) {
    const headers = gate.cors?.responseHeaders(undefined) ?? {}
    // An answer that depends on Origin names it in Vary (Fetch standard §3.2.5).
    fixed = 'Vary' in headers ? null : Object.entries(headers)
    fixedCors.set(gate, fixed)
  }
  return fixed
}

/** The CORS headers of a protected answer, unless another CORS middleware already chose them. */
export function applyCors(gate: Gate, req: IncomingMessage, res: ServerResponse): void {
  if (gate.cors === undefined) return
  // The usual case: no other CORS layer has written anything, and the policy is the same for every origin.
  const fixed = fixedCorsHeaders(gate)
  if (
    fixed !== null &&
    !res.hasHeader('access-control-expose-headers') &&
    !res.hasHeader('access-control-allow-origin') &&
    !res.hasHeader('vary')
  ) {
    for (const [name, value] of fixed) res.setHeader(name, value)
    return
  }
  const exposed = mergeHeaderList(res.getHeader('access-control-expose-headers'), gate.cors.exposeHeaders)
  if (res.hasHeader('access-control-allow-origin')) {
    // Another layer (the `cors` package) granted the origin; only make sure the challenge is readable.
    res.setHeader('Access-Control-Expose-Headers', exposed)
    return
  }
  // A CORS layer that ran first and refused this origin leaves only `Vary: Origin`: its refusal stands.
  if (variesByOrigin(res.getHeader('vary'))) return
  const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined
  for (const [name, value] of Object.entries(gate.cors.responseHeaders(origin))) {
    if (name === 'Vary') res.setHeader('Vary', mergeHeaderList(res.getHeader('vary'), [value]))
    else if (name === 'Access-Control-Expose-Headers') res.setHeader(name, exposed)
    else res.setHeader(name, value)
  }
}

function variesByOrigin(vary: string | number | string[] | undefined): boolean {
  if (vary === undefined || typeof vary === 'number') return false
  return ([] as string[])
    .concat(vary)
    .some((value) => value.split(',').some((name) => name.trim().toLowerCase() === 'origin'))
}
