import { type AuthorizationServerMetadata, canonicalResource, tokenFingerprint } from '@portcullis/core'
import { checkAuthorizationServer } from './authorization-server-checks.js'
import { checkChallenge } from './challenge-checks.js'
import { type Check, Checklist, type DoctorReport, summarise } from './check.js'
import { type ClientCredentials, obtainToken } from './client-credentials.js'
import { checkCors } from './cors-checks.js'
import type { ProbeLimits } from './http.js'
import { checkResourceMetadata } from './resource-metadata-checks.js'
import { checkToken } from './token-checks.js'

export interface DoctorOptions {
  /** An access token to check and try (`tools/list`). Never printed: the report carries its fingerprint. */
  token?: string
  /** The origin of the browser page CORS is checked for. Default `http://localhost:6274` (MCP Inspector). */
  browserOrigin?: string
  /** Deadline of each request, in ms. Default 5000. */
  timeoutMs?: number
  /** Largest response body read, in bytes. Default 256 KiB. */
  maxBytes?: number
  /** Most authorization servers checked. Default 5. */
  maxAuthorizationServers?: number
  /**
   * Instead of `token`: get one with the client credentials grant (RFC 6749 §4.4) for this MCP
   * resource, then check it the same way. The secret is never printed.
   */
  clientCredentials?: ClientCredentials
  /**
   * With a token: call this tool (with no arguments) after `tools/list` and report what the server
   * answers, a 403 step-up challenge included. Off by default: a call may change data.
   */
  callTool?: string
}

export const DEFAULT_BROWSER_ORIGIN = 'http://localhost:6274'

/**
 * Probes a running MCP server from outside, as an MCP client would, and returns the checklist.
 * Never throws for what the server answers; only for options that make no sense.
 *
 * @example
 * const report = await doctor('https://mcp.example.com/mcp')
 * if (!report.ok) console.log(report.checks.filter((c) => c.status === 'fail'))
 */
export async function doctor(url: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const browserOrigin = normaliseOrigin(options.browserOrigin ?? DEFAULT_BROWSER_ORIGIN)
  const limits: ProbeLimits = {
    timeoutMs: positive(options.timeoutMs, 5000, 'timeoutMs'),
    maxBytes: positive(options.maxBytes, 256 * 1024, 'maxBytes'),
  }
  const maxServers = positive(options.maxAuthorizationServers, 5, 'maxAuthorizationServers')
  if (options.token !== undefined && options.clientCredentials !== undefined) {
    throw new TypeError('doctor: give token or clientCredentials, not both')
  }
  if (options.clientCredentials !== undefined) checkCredentials(options.clientCredentials)
  if (options.callTool !== undefined && (typeof options.callTool !== 'string' || options.callTool === '')) {
    throw new TypeError('doctor: option "callTool": must be a tool name')
  }
  let token = options.token
  const checks: Check[] = []
  const report = (): DoctorReport => {
    const summary = summarise(checks)
    return {
      version: 1,
      target: url,
      browserOrigin,
      ...(token === undefined ? {} : { tokenFingerprint: tokenFingerprint(token) }),
      checks,
      summary,
      ok: summary.fail === 0,
    }
  }

  try {
    canonicalResource(url)
  } catch (error) {
    const list = new Checklist('challenge')
    list.fail(
      'target.url',
      (error as Error).message,
      'Give the MCP endpoint URL: https (http only on loopback), no fragment or credentials.',
    )
    checks.push(...list.checks)
    return report()
  }

  const challenge = await checkChallenge(url, limits)
  checks.push(...challenge.list.checks)
  const prm = await checkResourceMetadata(url, challenge.findings.resourceMetadata, limits)
  checks.push(...prm.list.checks)
  checks.push(
    ...(await checkCors(url, prm.metadata?.url, browserOrigin, challenge.findings.challenged, limits)).checks,
  )

  const servers = prm.metadata?.authorizationServers ?? []
  let firstServer: AuthorizationServerMetadata | undefined
  for (const issuer of servers.slice(0, maxServers)) {
    const as = await checkAuthorizationServer(issuer, prm.metadata?.scopesSupported, browserOrigin, limits)
    checks.push(...as.list.checks)
    firstServer ??= as.metadata
  }

  if (options.clientCredentials !== undefined) {
    // As an MCP client selects scopes (2025-11-25 §Scope Selection Strategy): the challenge's, else scopes_supported.
    const scopes =
      options.clientCredentials.scopes ??
      challenge.findings.scope?.split(' ').filter((scope) => scope !== '') ??
      prm.metadata?.scopesSupported
    const obtained = await obtainToken(
      { ...options.clientCredentials, ...(scopes === undefined ? {} : { scopes }) },
      canonicalResource(url),
      firstServer,
      limits,
    )
    checks.push(...obtained.list.checks)
    token = obtained.token
  }
  if (token !== undefined) {
    const list = await checkToken(
      {
        url,
        token,
        authorizationServers: servers,
        ...(options.callTool === undefined ? {} : { callTool: options.callTool }),
        ...(prm.metadata?.scopesSupported === undefined
          ? {}
          : { scopesSupported: prm.metadata.scopesSupported }),
      },
      limits,
    )
    checks.push(...list.checks)
  }
  return report()
}

function checkCredentials(credentials: ClientCredentials): void {
  const { clientId, clientSecret, tokenEndpoint, scopes } = credentials
  if (typeof clientId !== 'string' || clientId === '') {
    throw new TypeError('doctor: clientCredentials.clientId must be a non-empty string')
  }
  // The secret itself is never part of a message.
  if (typeof clientSecret !== 'string' || clientSecret === '') {
    throw new TypeError('doctor: clientCredentials.clientSecret must be a non-empty string')
  }
  const { authMethod } = credentials
  if (
    authMethod !== undefined &&
    authMethod !== 'client_secret_basic' &&
    authMethod !== 'client_secret_post'
  ) {
    throw new TypeError('doctor: clientCredentials.authMethod is client_secret_basic or client_secret_post')
  }
  if (tokenEndpoint !== undefined && !URL.canParse(tokenEndpoint)) {
    throw new TypeError(
      `doctor: clientCredentials.tokenEndpoint ${JSON.stringify(tokenEndpoint)} is not a URL`,
    )
  }
  // RFC 6749 §3.3: scope tokens are printable ASCII without space, quote or backslash.
  if (scopes !== undefined && !scopes.every((scope) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))) {
    throw new TypeError('doctor: clientCredentials.scopes must be RFC 6749 scope tokens')
  }
}

function normaliseOrigin(origin: string): string {
  if (!URL.canParse(origin))
    throw new TypeError(`doctor: browserOrigin ${JSON.stringify(origin)} is not a URL`)
  const parsed = new URL(origin)
  if (parsed.origin === 'null')
    throw new TypeError(`doctor: browserOrigin ${JSON.stringify(origin)} has no origin`)
  return parsed.origin
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value <= 0)
    throw new TypeError(`doctor: ${name} must be a positive integer`)
  return value
}
