// The public API of @portcullis/core, every name listed. Building blocks that only adapters and
// Portcullis's own packages need are in ./adapter.ts (`@portcullis/core/adapter`).
export {
  type AttemptLimiter,
  AttemptWindows,
  type AttemptWindowsOptions,
  clientAddressKey,
} from './attempt-limiter.js'
export { AUDIT_CHANNEL, AUDIT_SCHEMA_VERSION, type AuditEvent, onAuditEvent } from './audit.js'
export type { AuthInfo, AuthInfoExtra, CachedOutcome, TokenVerifier } from './auth-info.js'
export {
  type BoundedFetchOptions,
  type BoundedResponse,
  boundedFetch,
  FetchFailure,
  type FetchFailureKind,
  fetchJson,
  type JsonResponse,
} from './bounded-fetch.js'
export { type ParsedChallenge, parseChallenges } from './challenge.js'
export { DEFAULT_CLOCK_TOLERANCE, MAX_CLOCK_TOLERANCE, revocationLapsesAt } from './clock-tolerance.js'
export { type DecodedJwt, decodeCompactJwt, type JwsHeader } from './compact-jwt.js'
export type { CorsOptions } from './cors-policy.js'
export {
  type DenyList,
  MemoryDenyList,
  type MemoryDenyListOptions,
  type Revocation,
  type RevocationInput,
  revocationFromKey,
  revocationKey,
  revocationOf,
} from './deny-list.js'
export {
  type AuthorizationServerMetadata,
  authorizationServerMetadataUrls,
  type DiscoveredAuthorizationServer,
  type DiscoveryOptions,
  discoverAuthorizationServer,
  IssuerMismatchError,
} from './discovery.js'
export { jwkThumbprint } from './dpop-key.js'
export type { DpopMode, DpopNonceOptions, DpopOptions, DpopSetting } from './dpop-options.js'
export {
  type DpopReplayCache,
  MemoryDpopReplayCache,
  type MemoryDpopReplayCacheOptions,
} from './dpop-replay.js'
export {
  invalidRequest,
  invalidToken,
  isPortcullisError,
  type OAuthErrorCode,
  PortcullisError,
  type PortcullisErrorOptions,
  type PortcullisReason,
  temporarilyUnavailable,
} from './errors.js'
export { tokenFingerprint } from './fingerprint.js'
export { createGate } from './gate.js'
export type {
  AuthenticateInput,
  AuthenticateResult,
  AuthorizeResult,
  Gate,
  GateOptions,
  GateReply,
  GateScopeOptions,
  MetadataReply,
  RejectionLog,
  VerifiedAuthInfo,
} from './gate-types.js'
export {
  type ComponentHealth,
  denyListHealth,
  type GateHealth,
  type HealthReporter,
  type HealthStatus,
  keySetHealth,
  summariseHealth,
  verifierHealth,
} from './health.js'
export {
  type IntrospectionCacheScope,
  introspectionCacheKey,
  introspectionKeyScope,
} from './introspection-cache-key.js'
export { introspectionVerifier } from './introspection-verifier.js'
export type {
  IntrospectionAnswer,
  IntrospectionCache,
  IntrospectionVerifier,
  IntrospectionVerifierOptions,
} from './introspection-verifier-options.js'
export { type IssuerRouter, type IssuerRouterOptions, issuerRouter, looksLikeJwt } from './issuer-router.js'
export { type JwksKeySetOptions, jwksKeySet } from './jwks.js'
export { DEFAULT_JWS_ALGORITHMS, JWS_ALGORITHMS, type JwsAlgorithm } from './jws-algorithms.js'
export { jwtVerifier } from './jwt-verifier.js'
export type { JwtVerifier, JwtVerifierOptions } from './jwt-verifier-options.js'
export { type ExplicitKey, importJwks, type StaticKey, staticKeySet } from './key-import.js'
export type { IgnoredKey, KeySet, KeySetStatus, RemoteKeySet, VerificationKey } from './key-set.js'
export { KEY_SET_CHANNEL, type KeySetEvent, onKeySetEvent } from './key-set-events.js'
export { type CacheStats, type CacheStore, LruCache, type LruCacheOptions } from './lru-cache.js'
export {
  authInfoFrom,
  type McpDeclaration,
  principalBinding,
  type ScopedRegistrar,
  withScopes,
} from './mcp-declarations.js'
export type { McpEventStore } from './mcp-event-store.js'
export { type ListedScopes, SCOPES_META_KEY } from './mcp-listing.js'
export type {
  McpFactoryContext,
  McpNodeHandler,
  McpRouteFactory,
  McpRouteOptions,
  McpServerFactory,
  McpServerLike,
  McpTransportClass,
  McpTransportLike,
} from './mcp-route-options.js'
export type { McpSessionLimits } from './mcp-sessions.js'
export {
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataInput,
  protectedResourceMetadata,
  protectedResourceMetadataPaths,
  protectedResourceMetadataUrl,
} from './metadata.js'
export { INSTRUMENTATION_NAME, type InstrumentOptions, instrumentPortcullis } from './otel-bridge.js'
export type { HealthSource, PortcullisMetrics } from './otel-metrics.js'
export { audienceMatches, canonicalResource } from './resource.js'
export {
  type ClaimPath,
  readClaim,
  type ScopeMapper,
  type ScopeMapperOptions,
  scopeMapper,
} from './scope-mapper.js'
export type { ScopeImplications, ScopePolicy, ScopeRequirement } from './scopes.js'
export {
  type AuthenticateTrace,
  type AuthorizeTrace,
  TELEMETRY_CHANNELS,
  type UpstreamTrace,
} from './telemetry-channels.js'
export type { TokenCacheOptions } from './token-cache.js'
