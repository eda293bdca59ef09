import type { BoundedResponse } from '@portcullis/core'
import { Checklist } from './check.js'
import { headerList, type ProbeLimits, probe } from './http.js'
import { initializeRequest, mcpHeaders } from './mcp-messages.js'

/** The request headers a browser MCP client (MCP Inspector, web apps) names in its preflight. */
export const MCP_REQUEST_HEADERS = ['authorization', 'content-type', 'mcp-protocol-version'] as const

/** Whether a response lets a page at `origin` read it (Fetch standard, CORS check). */
export function allowsOrigin(response: BoundedResponse, origin: string): boolean {
  const allowed = response.headers.get('access-control-allow-origin')
  return allowed === '*' || allowed === origin
}

/**
 * What a browser page at `origin` needs: the metadata document readable, the preflight of an
 * authenticated MCP POST granted, and the 401's WWW-Authenticate exposed to the script.
 */
export async function checkCors(
  url: string,
  metadataUrl: string | undefined,
  origin: string,
  challenged: boolean,
  limits: ProbeLimits,
): Promise<Checklist> {
  const list = new Checklist('cors')
  if (metadataUrl !== undefined) {
    const result = await probe(metadataUrl, { headers: { origin, accept: 'application/json' } }, limits)
    if (result.ok && allowsOrigin(result.response, origin)) {
      list.pass('cors.metadata', `a page at ${origin} can read the metadata document`)
    } else {
      list.fail(
        'cors.metadata',
        `a page at ${origin} cannot read the metadata document (no matching Access-Control-Allow-Origin)`,
        'Answer GET of the metadata document with Access-Control-Allow-Origin: * (it is public, RFC 9728 §3).',
      )
    }
  }

  const preflight = await probe(
    url,
    {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': MCP_REQUEST_HEADERS.join(','),
      },
    },
    limits,
  )
  if (!preflight.ok) {
    list.fail(
      'cors.preflight',
      `the preflight got no answer: ${preflight.problem}`,
      'Answer OPTIONS on the MCP endpoint.',
    )
  } else {
    const res = preflight.response
    const methods = headerList(res.headers, 'access-control-allow-methods')
    const granted = headerList(res.headers, 'access-control-allow-headers')
    // Fetch standard: `*` does not cover Authorization, which must be listed by name.
    const missing = MCP_REQUEST_HEADERS.filter(
      (name) => !granted.includes(name) && !(granted.includes('*') && name !== 'authorization'),
    )
    const problems: string[] = []
    if (res.status < 200 || res.status > 299) problems.push(`HTTP ${res.status}`)
    if (!allowsOrigin(res, origin)) problems.push('no matching Access-Control-Allow-Origin')
    if (!methods.includes('post') && !methods.includes('*'))
      problems.push('POST not in Access-Control-Allow-Methods')
    if (missing.length > 0) problems.push(`headers not allowed: ${missing.join(', ')}`)
    if (problems.length === 0) {
      list.pass('cors.preflight', `the preflight of an MCP POST from ${origin} is granted`)
    } else {
      list.fail(
        'cors.preflight',
        `the preflight of an MCP POST from ${origin} is refused: ${problems.join('; ')}`,
        `Answer OPTIONS without authentication, allowing origin ${origin}, method POST and headers ${MCP_REQUEST_HEADERS.join(', ')} (Authorization by name: "*" does not cover it), plus Mcp-Session-Id.`,
      )
    }
  }

  const challenge = await probe(
    url,
    { method: 'POST', headers: mcpHeaders({ origin }), body: initializeRequest },
    limits,
  )
  if (challenge.ok && challenge.response.status === 401) {
    const exposed = headerList(challenge.response.headers, 'access-control-expose-headers')
    if (!allowsOrigin(challenge.response, origin)) {
      list.fail(
        'cors.challenge',
        `a page at ${origin} cannot read the 401 (no matching Access-Control-Allow-Origin)`,
        'Send the CORS headers on error responses too, not only on successes.',
      )
    } else if (!exposed.includes('www-authenticate')) {
      list.fail(
        'cors.challenge',
        'the 401 does not expose WWW-Authenticate to scripts',
        'Add Access-Control-Expose-Headers: WWW-Authenticate (and Mcp-Session-Id): browser clients find resource_metadata there.',
      )
    } else {
      list.pass('cors.challenge', `a page at ${origin} can read the 401 and its WWW-Authenticate`)
    }
  } else if (challenge.ok && challenged) {
    list.fail(
      'cors.challenge',
      `a request from ${origin} got HTTP ${challenge.response.status} instead of the 401 it gets without an Origin`,
      `If pages at ${origin} should reach this server, allow the origin (Origin validation against DNS rebinding is right for unknown origins).`,
    )
  } else {
    list.skip('cors.challenge', 'no 401 to check')
  }
  return list
}
