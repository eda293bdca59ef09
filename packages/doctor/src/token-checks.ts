import { audienceMatches, canonicalResource, parseChallenges } from '@portcullis/core'
import { peekToken } from '@portcullis/idp'
import { Checklist, show } from './check.js'
import type { ProbeLimits } from './http.js'
import { callToolsList, type ToolsListVerdict } from './tools-list.js'

export interface TokenContext {
  url: string
  token: string
  authorizationServers: string[]
  scopesSupported?: string[]
  /** A tool to call (with no arguments) after tools/list. */
  callTool?: string
}

// RFC 9068 §2.1: `at+jwt`; the media-type form is accepted by the same rule.
const ACCESS_TOKEN_TYPES = ['at+jwt', 'application/at+jwt']

/**
 * What a token shows before the server sees it (claims read, not verified: the server decides),
 * then what the server says about it on a real `tools/list`. The token itself is never printed.
 */
export async function checkToken(context: TokenContext, limits: ProbeLimits): Promise<Checklist> {
  const list = new Checklist('token')
  const peeked = peekToken(context.token)
  if (peeked.form === 'jws' && peeked.claims !== undefined) {
    checkClaims(list, context, peeked.header ?? {}, peeked.claims)
  } else {
    list.skip(
      'token.claims',
      `the token is ${peeked.form === 'jwe' ? 'encrypted (JWE)' : 'opaque'}: only the server can read it`,
    )
  }
  await checkServerVerdict(list, context, limits)
  return list
}

function checkClaims(
  list: Checklist,
  context: TokenContext,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): void {
  const resource = canonicalResource(context.url)
  if (audienceMatches(claims.aud, [resource])) {
    list.pass('token.audience', `aud names ${resource}`)
  } else {
    list.fail(
      'token.audience',
      `aud is ${show(claims.aud)}, not ${resource}`,
      `Request the token with resource=${resource} (RFC 8707) and make the authorization server put it in aud.`,
    )
  }
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined
  if (typ !== undefined && ACCESS_TOKEN_TYPES.includes(typ)) {
    list.pass('token.typ', `typ is ${show(header.typ)} (RFC 9068)`)
  } else {
    list.warn(
      'token.typ',
      `typ is ${show(header.typ)}, not at+jwt`,
      'Issue RFC 9068 access tokens (typ at+jwt) so an ID token can never pass as an access token; otherwise the server must allow this type explicitly.',
    )
  }
  if (typeof claims.iss === 'string' && context.authorizationServers.includes(claims.iss)) {
    list.pass('token.issuer', `iss is ${show(claims.iss)}, a listed authorization server`)
  } else {
    list.fail(
      'token.issuer',
      `iss is ${show(claims.iss)}, not one of ${show(context.authorizationServers)}`,
      'Get the token from an authorization server the metadata lists (exact issuer string).',
    )
  }
  const now = Math.floor(Date.now() / 1000)
  if (typeof claims.exp !== 'number') {
    list.fail(
      'token.expiry',
      'the token has no exp',
      'Issue tokens with an expiry (RFC 9068 §2.2 requires exp).',
    )
  } else if (claims.exp <= now) {
    list.fail(
      'token.expiry',
      `the token expired ${now - claims.exp} s ago`,
      'Get a fresh token; if this happens to clients, check their refresh logic and clock.',
    )
  } else {
    list.pass('token.expiry', `expires in ${claims.exp - now} s`)
  }
  const scopes =
    typeof claims.scope === 'string'
      ? claims.scope.split(' ').filter(Boolean)
      : Array.isArray(claims.scp)
        ? claims.scp.filter((s): s is string => typeof s === 'string')
        : []
  if (scopes.length === 0) {
    list.warn(
      'token.scopes',
      'the token carries no scope',
      'Ask for the scopes the challenge or scopes_supported names.',
    )
  } else if (context.scopesSupported !== undefined) {
    const unknown = scopes.filter((s) => !context.scopesSupported?.includes(s))
    const known = scopes.filter((s) => context.scopesSupported?.includes(s))
    if (known.length === 0) {
      list.warn(
        'token.scopes',
        `none of the token's scopes (${scopes.join(' ')}) is in scopes_supported`,
        `Ask for scopes from scopes_supported (${context.scopesSupported.join(' ')}), or map the IdP's claims to them.`,
      )
    } else {
      const extra = unknown.length > 0 ? ` (also ${unknown.join(' ')}, unknown here)` : ''
      list.pass('token.scopes', `scopes ${known.join(' ')}${extra}`)
    }
  } else {
    list.pass('token.scopes', `scopes ${scopes.join(' ')}`)
  }
}

async function checkServerVerdict(
  list: Checklist,
  context: TokenContext,
  limits: ProbeLimits,
): Promise<void> {
  const verdict = await callToolsList(context.url, context.token, limits, context.callTool)
  if (verdict.kind === 'tools') {
    list.pass(
      'token.tools_list',
      `tools/list answered with ${verdict.names.length} tool(s): ${verdict.names.join(', ') || '(none)'}`,
    )
    if (context.callTool !== undefined) checkToolCall(list, context.callTool, verdict)
    return
  }
  if (verdict.kind === 'refused') {
    const params = challengeParams(verdict.challenge)
    if (verdict.status === 403) {
      list.fail(
        'token.tools_list',
        `tools/list refused with 403${params.scope ? `; the challenge asks for scope ${show(params.scope)}` : ''}${params.error ? ` (${params.error})` : ''}`,
        params.scope
          ? `Ask for ${params.scope} (step-up authorization: the client requests a token with these scopes).`
          : 'The 403 names no scope: add scope="..." to insufficient_scope challenges so clients can step up (MCP 2025-11-25).',
      )
      return
    }
    list.fail(
      'token.tools_list',
      `the server refused the token at ${verdict.step} with HTTP ${verdict.status}${params.error_description ? `: ${show(params.error_description)}` : ''}`,
      'Compare the token checks above with the server configuration (issuer, audience, key set); the server log has the reason and the same fingerprint.',
    )
    return
  }
  list.fail(
    'token.tools_list',
    `tools/list failed at ${verdict.step}: ${verdict.problem}`,
    'Check the server log for this request.',
  )
}

function checkToolCall(
  list: Checklist,
  name: string,
  verdict: Extract<ToolsListVerdict, { kind: 'tools' }>,
): void {
  const call = verdict.call!
  const tool = show(name)
  if (!verdict.names.includes(name)) {
    list.warn(
      'token.tool_call',
      `tools/list does not name ${tool} for this token`,
      'Name a tool from the list above (a server may hide tools the caller may not call).',
    )
  }
  if (call.kind === 'answered') {
    list.pass(
      'token.tool_call',
      `tools/call ${tool} answered${call.toolError ? ' with a tool error (called with no arguments)' : ''}`,
    )
    return
  }
  if (call.kind === 'failed') {
    list.warn(
      'token.tool_call',
      `tools/call ${tool} failed: ${call.problem}`,
      'Check the server log for this request.',
    )
    return
  }
  const params = challengeParams(call.challenge)
  if (call.status === 403 && params.error === 'insufficient_scope' && params.scope) {
    // The right answer to a token without the tool's scopes: it names what to ask for (step-up).
    list.pass(
      'token.tool_call',
      `tools/call ${tool} refused with 403 insufficient_scope; the challenge asks for scope ${show(params.scope)}`,
    )
    return
  }
  list.fail(
    'token.tool_call',
    `tools/call ${tool} refused with HTTP ${call.status}${params.error ? ` (${params.error})` : ''}${params.scope ? `` : ', naming no scope'}`,
    call.status === 403
      ? 'Answer a missing tool scope with 403 and error="insufficient_scope" scope="..." so clients can step up (MCP 2025-11-25).'
      : 'The token passed tools/list but not tools/call: compare the per-tool rules with the token.',
  )
}

function challengeParams(header: string | undefined): Record<string, string> {
  if (header === undefined) return {}
  try {
    return parseChallenges(header).find((c) => c.scheme.toLowerCase() === 'bearer')?.params ?? {}
  } catch {
    return {}
  }
}
