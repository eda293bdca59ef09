import type { IncomingMessage } from 'node:http'
import type { VerifiedAuthInfo } from '@portcullis/core'
import { verifiedCaller } from '@portcullis/core/adapter'

/**
 * The caller the gate verified on this request, typed with what the gate guarantees (`resource`,
 * `extra.fingerprint`), whatever else has written `req.auth`. Throws when no gate verified the
 * request: the route is not behind `portcullis()` (a `public` path, or `routes: 'declared'` without
 * `protect()` / `requireScopes()`), a server mistake to fix, not a client's.
 *
 * @example
 * app.get('/reports', requireScopes('reports:read'), (req, res) => {
 *   res.json({ sub: verifiedAuth(req).extra.sub })
 * })
 */
export function verifiedAuth(req: IncomingMessage): VerifiedAuthInfo {
  return verifiedCaller(req, '@portcullis/express verifiedAuth')
}
