export * from './attempt-limiter.js'
export * from './audit.js'
export type * from './auth-info.js'
export * from './bearer.js'
export * from './bounded-fetch.js'
export * from './challenge.js'
export {
  clockToleranceSchema,
  DEFAULT_CLOCK_TOLERANCE,
  MAX_CLOCK_TOLERANCE,
  revocationLapsesAt,
} from './clock-tolerance.js'
export * from './compact-jwt.js'
export * from './cors-policy.js'
export * from './deny-list.js'
export * from './discovery.js'
export { dpopAwareVerifier } from './dpop-binding.js'
export { type DpopKey, DpopKeyCache, jwkThumbprint } from './dpop-key.js'
export { type DpopNonces, dpopNonces } from './dpop-nonce.js'
export {
  type DpopMode,
  type DpopNonceOptions,
  type DpopOptions,
  type DpopSetting,
  dpopSettingSchema,
} from './dpop-options.js'
export {
  type CheckedDpopProof,
  checkDpopProof,
  type DpopProofExpectations,
  MAX_DPOP_PROOF_LENGTH,
} from './dpop-proof.js'
export {
  type DpopReplayCache,
  dpopProofId,
  MemoryDpopReplayCache,
  type MemoryDpopReplayCacheOptions,
} from './dpop-replay.js'
export { dpopHeaders } from './dpop-request.js'
export * from './errors.js'
export * from './fingerprint.js'
export * from './gate.js'
export * from './health.js'
export {
  type IntrospectionCacheScope,
  introspectionCacheKey,
  introspectionKeyScope,
} from './introspection-cache-key.js'
export * from './introspection-verifier.js'
export * from './issuer-router.js'
export * from './jwks.js'
export * from './jws-algorithms.js'
export * from './jwt-verifier.js'
export * from './key-set-events.js'
export * from './lru-cache.js'
export * from './mcp-declarations.js'
export * from './mcp-endpoint.js'
export * from './mcp-event-store.js'
export * from './mcp-hosting.js'
export {
  LISTS,
  type ListedScopes,
  type ListKind,
  type McpListing,
  type McpListingPolicy,
  mcpListingPolicy,
  SCOPES_META_KEY,
} from './mcp-listing.js'
export * from './mcp-methods.js'
export * from './mcp-request.js'
export * from './mcp-sessions.js'
export * from './metadata.js'
export * from './options.js'
export * from './principal.js'
export * from './resource.js'
export * from './scope-mapper.js'
export * from './scopes.js'
export * from './sender-constraint.js'
export * from './single-flight.js'
export * from './token-cache.js'
export * from './uri-template.js'
