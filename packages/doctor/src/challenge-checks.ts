import { type ParsedChallenge, parseChallenges } from '@portcullis/core'
import { Checklist, show } from './check.js'
import { type ProbeLimits, probe } from './http.js'
import { initializeRequest, mcpHeaders } from './mcp-messages.js'

/** What the unauthenticated request showed, for the checks that follow. */
export interface ChallengeFindings {
  /** Whether the request without a token got a 401. */
  challenged: boolean
  /** The `resource_metadata` URL of the challenge, when it had one. */
  resourceMetadata?: string
  /** The `scope` of the challenge, when it had one. */
  scope?: string
}

/**
 * An MCP `initialize` without credentials, as a client's first request: MCP authorization
 * (2025-06-18 and later) wants a 401 whose Bearer challenge names the metadata document
 * (RFC 9728 §5.1), and RFC 6750 §3.1 says no `error` when no credentials were sent.
 */
export async function checkChallenge(
  url: string,
  limits: ProbeLimits,
): Promise<{ list: Checklist; findings: ChallengeFindings }> {
  const list = new Checklist('challenge')
  const findings: ChallengeFindings = { challenged: false }
  const result = await probe(url, { method: 'POST', headers: mcpHeaders(), body: initializeRequest }, limits)
  if (!result.ok) {
    list.fail(
      'challenge.reachable',
      `no answer: ${result.problem}`,
      'Check the URL and that the server is up and reachable from here.',
    )
    return { list, findings }
  }
  const { status, headers } = result.response
  if (status !== 401) {
    list.fail(
      'challenge.status',
      `an initialize request without a token got HTTP ${status}, not 401`,
      status < 300
        ? 'The MCP endpoint is not protected: put the bearer-token check in front of it (every method, including initialize).'
        : 'Answer requests without credentials with 401 and a WWW-Authenticate Bearer challenge (MCP authorization, RFC 6750 §3).',
    )
    return { list, findings }
  }
  findings.challenged = true
  list.pass('challenge.status', 'a request without a token gets 401')
  const header = headers.get('www-authenticate')
  let bearer: ParsedChallenge | undefined
  try {
    bearer =
      header === null ? undefined : parseChallenges(header).find((c) => c.scheme.toLowerCase() === 'bearer')
  } catch (error) {
    list.fail(
      'challenge.bearer',
      `WWW-Authenticate does not parse: ${(error as Error).message}`,
      'Send a well-formed header (RFC 9110 §11.6.1): Bearer resource_metadata="...", scope="..." with quoted values.',
    )
    return { list, findings }
  }
  if (bearer === undefined) {
    list.fail(
      'challenge.bearer',
      header === null ? 'the 401 has no WWW-Authenticate header' : `no Bearer challenge in ${show(header)}`,
      'Add WWW-Authenticate: Bearer resource_metadata="<metadata URL>" to every 401 (RFC 6750 §3, RFC 9728 §5.1).',
    )
    return { list, findings }
  }
  list.pass('challenge.bearer', 'the 401 carries a Bearer challenge')
  const params = bearer.params
  if (params.resource_metadata === undefined) {
    list.fail(
      'challenge.resource_metadata',
      'the challenge has no resource_metadata parameter',
      'Add resource_metadata="<the RFC 9728 metadata URL>" to the challenge: 2025-06-18 clients find the authorization server only through it.',
    )
  } else {
    findings.resourceMetadata = params.resource_metadata
    list.pass('challenge.resource_metadata', `resource_metadata is ${show(params.resource_metadata)}`)
  }
  if (params.scope === undefined) {
    list.warn(
      'challenge.scope',
      'the challenge names no scope',
      'Add scope="..." with the scopes a client needs to start (MCP 2025-11-25 scope selection); clients otherwise guess from scopes_supported.',
    )
  } else {
    findings.scope = params.scope
    list.pass('challenge.scope', `the challenge asks for scope ${show(params.scope)}`)
  }
  if (params.error !== undefined) {
    list.warn(
      'challenge.no_error',
      `the challenge says error=${show(params.error)} although no credentials were sent`,
      'Leave out error and error_description when the request had no token (RFC 6750 §3.1); some clients treat invalid_token as "refresh and retry".',
    )
  } else {
    list.pass('challenge.no_error', 'no error code without credentials (RFC 6750 §3.1)')
  }
  return { list, findings }
}
