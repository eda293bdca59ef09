import { createHash } from 'node:crypto'
import { tokenHash } from './fingerprint.js'

/** What makes an introspection answer valid: the server that gave it, to the client that asked. */
export interface IntrospectionCacheScope {
  issuer: string
  /** The configured endpoint; omitted when it is discovered from the issuer. */
  endpoint?: string | undefined
  clientId: string
}

/**
 * The key an introspection answer is cached under: the token's hash behind a short hash of the
 * issuer, endpoint and client id, so verifiers sharing a store (two deployments on one Redis)
 * never read each other's answers. Never the token.
 *
 * @example
 * introspectionCacheKey({ issuer: 'https://id.example.com', clientId: 'mcp' }, token) // 'Xy3…16.q3M1…43'
 */
export function introspectionCacheKey(scope: IntrospectionCacheScope, token: string): string {
  return `${introspectionKeyScope(scope)}.${tokenHash(token)}`
}

/** The first part of `introspectionCacheKey`, computed once per verifier. */
export function introspectionKeyScope(scope: IntrospectionCacheScope): string {
  return createHash('sha256')
    .update(JSON.stringify([scope.issuer, scope.endpoint ?? '', scope.clientId]))
    .digest('base64url')
    .slice(0, 16)
}
