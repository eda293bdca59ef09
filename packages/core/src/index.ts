// The public API of @portcullis/core, every name listed. Building blocks that only adapters and
// Portcullis's own packages need are in ./adapter.ts (`@portcullis/core/adapter`).

export { jwkThumbprint } from './dpop/key.js'
export type { DpopMode, DpopNonceOptions, DpopOptions, DpopSetting } from './dpop/options.js'
export {
  type DpopReplayCache,
  MemoryDpopReplayCache,
  type MemoryDpopReplayCacheOptions,
} from './dpop/replay.js'
export {
  type AttemptLimiter,
  AttemptWindows,
  type AttemptWindowsOptions,
  clientAddressKey,
} from './gate/attempt-limiter.js'
export type { CorsOptions } from './gate/cors-policy.js'
export { createGate } from './gate/gate.js'
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
} from './gate/gate-types.js'
export {
  authInfoFrom,
  type McpDeclaration,
  type McpScopeRegistry,
  mcpScopeRegistry,
  principalBinding,
  processScopeRegistry,
  type ScopedRegistrar,
  withScopes,
} from './mcp/declarations.js'
export type { McpEventStore } from './mcp/event-store.js'
export { type ListedScopes, SCOPES_META_KEY } from './mcp/listing.js'
export type {
  McpFactoryContext,
  McpNodeHandler,
  McpRouteFactory,
  McpRouteOptions,
  McpServerFactory,
  McpServerLike,
  McpTransportClass,
  McpTransportLike,
} from './mcp/route-options.js'
export type { McpSessionLimits } from './mcp/sessions.js'
export { type ParsedChallenge, parseChallenges } from './oauth/challenge.js'
export {
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataInput,
  protectedResourceMetadata,
  protectedResourceMetadataPaths,
  protectedResourceMetadataUrl,
} from './oauth/metadata.js'
export { audienceMatches, canonicalResource } from './oauth/resource.js'
export type { ScopeImplications, ScopePolicy, ScopeRequirement } from './oauth/scopes.js'
export {
  type BoundedFetchOptions,
  type BoundedResponse,
  boundedFetch,
  FetchFailure,
  type FetchFailureKind,
  fetchJson,
  type JsonResponse,
} from './support/bounded-fetch.js'
export {
  invalidRequest,
  invalidToken,
  isPortcullisError,
  type OAuthErrorCode,
  PortcullisError,
  type PortcullisErrorOptions,
  type PortcullisReason,
  temporarilyUnavailable,
} from './support/errors.js'
export { type CacheStats, type CacheStore, LruCache, type LruCacheOptions } from './support/lru-cache.js'
export { OptionsError } from './support/options.js'
export { AUDIT_CHANNEL, AUDIT_SCHEMA_VERSION, type AuditEvent, onAuditEvent } from './telemetry/audit.js'
export {
  type ComponentHealth,
  denyListHealth,
  type GateHealth,
  type HealthReporter,
  type HealthStatus,
  keySetHealth,
  summariseHealth,
  verifierHealth,
} from './telemetry/health.js'
export {
  portcullisLogRedaction,
  portcullisRequestSerializer,
  redactQueryTokens,
  type SerializedRequest,
} from './telemetry/log-redaction.js'
export {
  INSTRUMENTATION_NAME,
  type InstrumentOptions,
  instrumentPortcullis,
} from './telemetry/otel-bridge.js'
export type { HealthSource, PortcullisMetrics } from './telemetry/otel-metrics.js'
export {
  type AuthenticateTrace,
  type AuthorizeTrace,
  TELEMETRY_CHANNELS,
  type UpstreamTrace,
} from './telemetry/telemetry-channels.js'
export type { AuthInfo, AuthInfoExtra, CachedOutcome, TokenVerifier } from './token/auth-info.js'
export { DEFAULT_CLOCK_TOLERANCE, MAX_CLOCK_TOLERANCE, revocationLapsesAt } from './token/clock-tolerance.js'
export { type DecodedJwt, decodeCompactJwt, type JwsHeader } from './token/compact-jwt.js'
export {
  type DenyList,
  MemoryDenyList,
  type MemoryDenyListOptions,
  type Revocation,
  type RevocationInput,
  revocationFromKey,
  revocationKey,
  revocationOf,
} from './token/deny-list.js'
export {
  type AuthorizationServerMetadata,
  authorizationServerMetadataUrls,
  type DiscoveredAuthorizationServer,
  type DiscoveryOptions,
  discoverAuthorizationServer,
  IssuerMismatchError,
  processDiscoveryCache,
} from './token/discovery.js'
export { tokenFingerprint } from './token/fingerprint.js'
export {
  type IntrospectionCacheScope,
  introspectionCacheKey,
  introspectionKeyScope,
} from './token/introspection-cache-key.js'
export { introspectionVerifier } from './token/introspection-verifier.js'
export type {
  IntrospectionAnswer,
  IntrospectionCache,
  IntrospectionVerifier,
  IntrospectionVerifierOptions,
} from './token/introspection-verifier-options.js'
export {
  type IssuerRouter,
  type IssuerRouterOptions,
  issuerRouter,
  looksLikeJwt,
} from './token/issuer-router.js'
export { type JwksKeySetOptions, jwksKeySet } from './token/jwks.js'
export { DEFAULT_JWS_ALGORITHMS, JWS_ALGORITHMS, type JwsAlgorithm } from './token/jws-algorithms.js'
export { jwtVerifier } from './token/jwt-verifier.js'
export type { JwtVerifier, JwtVerifierOptions } from './token/jwt-verifier-options.js'
export { type ExplicitKey, importJwks, type StaticKey, staticKeySet } from './token/key-import.js'
export type { IgnoredKey, KeySet, KeySetStatus, RemoteKeySet, VerificationKey } from './token/key-set.js'
export { KEY_SET_CHANNEL, type KeySetEvent, onKeySetEvent } from './token/key-set-events.js'
export { memoryDenyList } from './token/memory-deny-list.js'
export {
  type ClaimPath,
  readClaim,
  type ScopeMapper,
  type ScopeMapperOptions,
  scopeMapper,
} from './token/scope-mapper.js'
export type { TokenCacheOptions } from './token/token-cache.js'
