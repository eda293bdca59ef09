// The floors of the warm ratios. `floorVerifier`: what every floor verifies with. `leastLayer`:
// the least an Express auth layer can do on a remembered token while keeping the rules Portcullis
// keeps there, written for this one route and nothing else: the warm hit path's counterpart of
// `minVerifier` (lib/jwt.mjs) on the cold path. What Portcullis costs above this is what its
// generality costs; what this costs above the floor (http-servers.mjs `express-floor`) is what the
// rules cost. Rules kept, each as one test on the hit path:
//   1. the RFC 9728 metadata document is served at its path (never gated);
//   2. a preflight is not authenticated;
//   3. a CORS layer beside it keeps its headers (Vary merged, not replaced);
//   4. every Authorization header is read (a repeated one is refused), and a DPoP header is seen;
//   5. a form-encoded body could carry the token (RFC 6750 §2.2): a GET or HEAD skips the test;
//   6. the remembered outcome is found by the exact header, in a bounded table;
//   7. a token that expired while remembered is refused;
//   8. each request gets its own copy of the caller (a handler changing `req.auth` changes no other),
//      read as `req.auth` through an accessor on the app's request prototype (as Portcullis does:
//      adding a property to Express's request costs a copy of its hidden class);
//   9. the route guard fails closed when the gate did not verify this request, and checks the scope.
// Not kept: telemetry, audit hooks, the attempt limiter, deny lists, DPoP proofs, introspection,
// several gates or issuers, options, reports. A refusal is a bare 401 or 403 with a challenge.

/**
 * The floors' verifier: jose with the bench's key set, issuer, audience and algorithm; what it
 * accepted kept in a Map by the exact header (cleared when full). `known.get(header)` on a hit.
 */
export async function floorVerifier({ jwksUri, issuer, audience }) {
  const { createRemoteJWKSet, jwtVerify } = await import('jose')
  const jwks = createRemoteJWKSet(new URL(jwksUri))
  const known = new Map()
  const verify = async (header) => {
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined
    const token = header.slice(7)
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience,
        algorithms: ['ES256'],
      })
      const verified = { token, scopes: String(payload.scope).split(' '), payload }
      if (known.size >= 10_000) known.clear()
      known.set(header, verified)
      return verified
    } catch {
      return undefined
    }
  }
  return { known, verify }
}

const STATE = Symbol('least-layer state')
const MAX_ENTRIES = 10_000

/**
 * The middleware and the route guard. `verify(header)`: the floor's (`floorVerifier`), the token's
 * claims or `undefined`. The metadata document names `resource` and `issuer` (RFC 9728 §3.1 path).
 */
export function leastLayer({ verify, resource, issuer, scope }) {
  const known = new Map()
  const { pathname } = new URL(resource)
  const metadataPath = `/.well-known/oauth-protected-resource${pathname === '/' ? '' : pathname}`
  const document = JSON.stringify({ resource, authorization_servers: [issuer] })
  const challenge = `Bearer resource_metadata="${new URL(metadataPath, resource).href}"`
  const gate = {}

  const refuse = (res, status) => {
    res.statusCode = status
    res.setHeader('WWW-Authenticate', challenge)
    res.setHeader('Content-Length', '0')
    res.end()
  }

  const admit = (res, next, template) => {
    if (template === undefined) return refuse(res, 401)
    // 7: expired while remembered.
    if (template.expiresAt * 1000 <= Date.now()) return refuse(res, 401)
    // 8: the caller's own copy, read by `req.auth` (`exposeCaller`); 9: what the guard reads, not
    // enumerable (no token in a dump).
    const auth = { ...template, extra: { ...template.extra } }
    Object.defineProperty(res.locals, STATE, { value: { gate, auth }, writable: true, configurable: true })
    next()
  }

  const learn = async (header) => {
    const verified = await verify(header)
    if (verified === undefined) return undefined
    const { payload } = verified
    const template = {
      token: verified.token,
      clientId: String(payload.client_id ?? ''),
      scopes: verified.scopes,
      expiresAt: payload.exp,
      resource: new URL(resource),
      extra: { sub: payload.sub },
    }
    if (known.size >= MAX_ENTRIES) known.clear()
    known.set(header, template)
    return template
  }

  const middleware = function leastGate(req, res, next) {
    // 1: mounted at the root, the dispatch path is req.path.
    if (req.path === metadataPath) {
      res.setHeader('Content-Type', 'application/json')
      return void res.end(document)
    }
    const { method } = req
    // 2
    if (method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) return next()
    // 3: no Origin: only Vary, merged with another layer's.
    const vary = res.getHeader('vary')
    res.setHeader('Vary', vary === undefined ? 'Origin' : `${vary}, Origin`)
    // 4
    const raw = req.rawHeaders
    let header
    let count = 0
    let dpop = false
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        header = raw[i + 1]
        count++
      } else if (name.length === 4 && name.toLowerCase() === 'dpop') dpop = true
    }
    if (count !== 1 || dpop) return refuse(res, count > 1 ? 400 : 401)
    // 5: only a form body can carry the token, and only beside no header (RFC 6750 §3.1).
    if (method !== 'GET' && method !== 'HEAD' && isForm(req.headers['content-type'])) {
      if (req.body?.access_token !== undefined) return refuse(res, 400)
    }
    // 6
    const template = known.get(header)
    if (template !== undefined) return admit(res, next, template)
    learn(header).then(
      (learned) => admit(res, next, learned),
      () => refuse(res, 401),
    )
  }

  // 8: `req.auth` on the app's request prototype, once: mount the middleware with `exposeCaller(app)`.
  const exposeCaller = (app) =>
    Object.defineProperty(app.request, 'auth', {
      configurable: true,
      get() {
        return this.res.locals[STATE]?.auth
      },
      set(value) {
        Object.defineProperty(this, 'auth', { value, writable: true, enumerable: true, configurable: true })
      },
    })

  // 9
  const guard = function leastGuard(_req, res, next) {
    const state = res.locals[STATE]
    if (state?.gate !== gate) return refuse(res, 401)
    if (!state.auth.scopes.includes(scope)) return refuse(res, 403)
    next()
  }

  return { middleware, guard, exposeCaller }
}

const isForm = (type) =>
  typeof type === 'string' && type.toLowerCase().startsWith('application/x-www-form-urlencoded')
