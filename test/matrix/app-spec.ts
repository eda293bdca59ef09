import { createServer } from 'node:net'
import { type GateOptions, jwtVerifier, PortcullisError, type ScopeRequirement } from '@portcullis/core'
import { ISSUER, RESOURCE, type TokenKit } from '@portcullis/test-kit'

// The application every adapter builds for the matrix, as data: the same routes, the same gate
// options, so any difference in an answer is a difference between the adapters.

export interface MatrixRoute {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  /** Scopes of the route: Fastify `config.scopes`, Express `requireScopes(...)`. */
  scopes?: ScopeRequirement
  /** A public route: Fastify `config: { public: true }`, Express `public: [path]`. */
  public?: true
}

export const ROUTES: readonly MatrixRoute[] = [
  { method: 'GET', path: '/notes' },
  { method: 'POST', path: '/notes', scopes: ['notes:write'] },
  { method: 'GET', path: '/reports', scopes: ['reports:read'] },
  { method: 'GET', path: '/export', scopes: ['notes:read', 'notes:write', 'reports:read'] },
  { method: 'GET', path: '/search', scopes: { anyOf: ['files:read', 'notes:read'] } },
  { method: 'GET', path: '/sync', scopes: { allOf: ['files:read', 'notes:read'] } },
  { method: 'GET', path: '/health', public: true },
]

/** What a protected route answers: who called and with which scopes. */
export const protectedBody = (route: MatrixRoute, auth: { extra: { sub?: string }; scopes: string[] }) => ({
  route: `${route.method} ${route.path}`,
  sub: auth.extra.sub,
  scopes: auth.scopes,
})

/** What a public route answers: no caller. */
export const publicBody = (auth: unknown) => ({ ok: true, auth: auth ?? null })

/**
 * Gate options of a case, as data: overrides of the notes resource's options. `verifier` names a
 * verifier the runner builds: `'unreachable'` (a key set on a closed port), `'throws'` (a custom
 * verifier with a bug).
 */
export type MatrixOptions = Partial<Omit<GateOptions, 'verifier'>> & { verifier?: 'unreachable' | 'throws' }

/** The gate options for a case: the notes resource verified by the real jwtVerifier, plus overrides. */
export async function gateOptionsFor(kit: TokenKit, options: MatrixOptions = {}): Promise<GateOptions> {
  const { verifier: kind, ...overrides } = options
  let verifier: GateOptions['verifier'] = jwtVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    keys: [kit.publicJwk],
  })
  if (kind === 'unreachable') {
    verifier = jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwksUri: `http://127.0.0.1:${await closedPort()}/jwks`,
      jwks: { fetchTimeoutMs: 2000 },
    })
  } else if (kind === 'throws') {
    verifier = {
      async verifyAccessToken(token: string) {
        if (token === '') throw new PortcullisError('invalid_token', 'token_malformed', 'never')
        throw new Error(`database unavailable while checking ${token}`)
      },
    }
  }
  return {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier,
    scopes: {
      base: ['notes:read'],
      implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
    },
    ...overrides,
  }
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
