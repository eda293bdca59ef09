import type { DpopSetting } from '../dpop/options.js'
import type { ScopePolicy, ScopeRequirement } from '../oauth/scopes.js'
import type { PortcullisError } from '../support/errors.js'
import type { GateHealth } from '../telemetry/health.js'
import type { AuthInfo, AuthInfoExtra, TokenVerifier } from '../token/auth-info.js'
import type { DenyList } from '../token/deny-list.js'
import type { AttemptLimiter } from './attempt-limiter.js'
import type { CorsOptions, CorsPolicy } from './cors-policy.js'

export interface GateScopeOptions {
  /** Scope implications (a broader scope grants narrower ones), e.g. `{ 'notes:admin': ['notes:write'] }`. */
  implies?: Record<string, readonly string[]>
  /**
   * The minimal scopes for basic use. They go in the `scope` of every 401 challenge and, unless
   * `supported` is given, in `scopes_supported` (MCP 2026-07-28 §Scope Selection Strategy).
   */
  base?: readonly string[]
  /** `scopes_supported` of the metadata document, when it should differ from `base`. */
  supported?: readonly string[]
}

export interface GateOptions {
  /** The protected resource's URL, e.g. `https://mcp.example.com/mcp`. Canonicalised (RFC 8707 §2). */
  resource: string | URL
  /** Issuer identifiers of the authorization servers, exactly as their metadata spells `issuer` (>= 1). */
  authorizationServers: readonly string[]
  /** Verifies access tokens: `jwtVerifier`, `introspectionVerifier`, `issuerRouter` or your own. */
  verifier: TokenVerifier
  scopes?: GateScopeOptions
  /** Longest access token accepted, in characters. Default 8192. */
  maxTokenLength?: number
  /** `resource_name` of the metadata document (RFC 9728 §2). */
  resourceName?: string
  /** `resource_documentation` of the metadata document (RFC 9728 §2). */
  resourceDocumentation?: string
  /** CORS for browser clients on protected routes: `true` (default, any origin), `false`, or options. */
  cors?: boolean | CorsOptions
  /** Seconds clients and caches may keep the metadata document (`Cache-Control: max-age`). Default 3600. */
  metadataMaxAge?: number
  /** Longest a verifier may take before the request is answered 503. Default 10000 ms. */
  verifyTimeoutMs?: number
  /**
   * Revoked tokens to refuse (401 `invalid_token`, reason `token_revoked`) even while their
   * signature or introspection answer is good: asked on every request, cache hits included. A
   * `MemoryDenyList`, or a shared one such as `@portcullis/redis`'s `redisDenyList`.
   */
  denyList?: DenyList
  /**
   * Limits refused tokens per client address: past the limit, requests that carry a token get 429
   * with `Retry-After` before the token is verified. Needs the adapter to pass `clientAddress`.
   * An `AttemptWindows`, or a shared one such as `@portcullis/redis`'s `redisAttemptLimiter`.
   */
  attemptLimiter?: AttemptLimiter
  /**
   * DPoP (RFC 9449): `'allowed'` accepts DPoP-bound tokens with a valid proof beside Bearer
   * tokens, `'required'` only those, `'off'` (default) none; or `DpopOptions` (algorithms, `iat`
   * window, server nonces, a shared replay cache). Proofs' `htu` is checked against the origin of
   * `resource` and the request path: behind a proxy, `resource` must be the public URL.
   */
  dpop?: DpopSetting
}

/** An HTTP answer as plain data, for an adapter to send unchanged. */
export interface GateReply {
  status: number
  headers: Record<string, string>
  body: { error: string; error_description: string }
}

/** An answer of the metadata endpoint: `body` is absent for OPTIONS and 405 (and dropped by HTTP for HEAD). */
export interface MetadataReply {
  status: number
  headers: Record<string, string>
  body?: Readonly<Record<string, unknown>>
}

/** What an adapter logs for a rejection. Never the token: `fingerprint` identifies it. */
export interface RejectionLog {
  /** `'error'` for failures of the server itself (a verifier that threw something unexpected). */
  severity: 'rejection' | 'error'
  fields: {
    reason: string
    status: number
    fingerprint?: string
    missingScopes?: readonly string[]
    /**
     * Why the verifier (or deny list) could not decide, for a 503: its error's message and causes,
     * the token replaced by its fingerprint. For the operator; the client only learns what is unavailable.
     */
    detail?: string
    /** The unexpected failure, with the token replaced by its fingerprint in message and stack. */
    err?: { type: string; message: string; stack?: string }
  }
}

/** The caller after a successful `authenticate`: `resource` and `extra.fingerprint` are always set. */
export type VerifiedAuthInfo = AuthInfo & { resource: URL; extra: AuthInfoExtra & { fingerprint: string } }

export type AuthenticateResult =
  | {
      ok: true
      auth: VerifiedAuthInfo
      /**
       * Headers the response should carry whatever it is: a fresh `DPoP-Nonce` (RFC 9449 §8.2)
       * when server nonces are on. Adapters set them before the handler runs.
       */
      headers?: Readonly<Record<string, string>>
    }
  | { ok: false; error: PortcullisError; reply: GateReply; log: RejectionLog }

export type AuthorizeResult =
  | { ok: true }
  | { ok: false; error: PortcullisError; reply: GateReply; log: RejectionLog }

export interface AuthenticateInput {
  /** The `Authorization` header(s) as the framework gives them. */
  authorization?: string | string[] | undefined
  /** The `access_token` form-body parameter, when the request has a form body (RFC 6750 §2.2). */
  bodyToken?: unknown
  /**
   * The client's address as the framework resolves it (proxy settings applied), for
   * `attemptLimiter`; or a function giving it, called only when a limiter needs it (Express's
   * `req.ip` parses the forwarding headers on every read).
   */
  clientAddress?: string | (() => string | undefined) | undefined
  /** The `DPoP` header(s), every value (`dpopHeaders(rawHeaders)`): a DPoP request must carry exactly one. */
  dpop?: string | string[] | undefined
  /** The request method, for a DPoP proof's `htm` (RFC 9449 §4.3). */
  method?: string | undefined
  /** The request target as received (path and query), for a DPoP proof's `htu`. */
  path?: string | undefined
}

/**
 * The adapter-neutral request pipeline of one protected resource. Adapters translate their
 * request into `authenticate` / `authorize` calls and send the `GateReply` they get back; every
 * rule (status, challenge, headers) lives here.
 */
export interface Gate {
  /** The canonical resource URL: the `aud` tokens must carry and the metadata `resource`. */
  readonly resource: string
  /** Where the metadata document is (path-inserted, RFC 9728 §3.1): the `resource_metadata` of challenges. */
  readonly metadataUrl: string
  /** The URL paths to serve the metadata document at. */
  readonly metadataPaths: readonly string[]
  readonly metadataDocument: Readonly<Record<string, unknown>>
  readonly policy: ScopePolicy
  /** CORS rules for protected routes, `undefined` when disabled. */
  readonly cors: CorsPolicy | undefined
  authenticate(input: AuthenticateInput): Promise<AuthenticateResult>
  /**
   * `authenticate`, answered at once when nothing needs waiting for (a malformed request, a token
   * the verifier remembers), else a promise: an adapter on a hot path spares a promise per request.
   */
  authenticateNow(input: AuthenticateInput): AuthenticateResult | Promise<AuthenticateResult>
  authorize(
    auth: Pick<AuthInfo, 'scopes' | 'token' | 'extra'>,
    requirement: ScopeRequirement,
  ): AuthorizeResult
  reply(error: PortcullisError): GateReply
  /** The answer of the metadata endpoint to a request method. */
  metadataReply(method: string): MetadataReply
  /** Key sets, introspection and deny list as last seen, for a readiness route. Makes no request. */
  health(): GateHealth
  /**
   * False while the deny list cannot vouch for tokens (a shared list not loaded yet, or too
   * stale): every token is answered 503 meanwhile. For readiness checks.
   */
  ready(): boolean
}
