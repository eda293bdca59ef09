import { ISSUER, NOTES_METADATA_DOCUMENT, RESOURCE } from '@portcullis/test-kit'
import { ALLOW_HEADERS, type MatrixCase, ORIGIN } from './cases.js'

// The matrix's cases of the RFC 9728 metadata document: served on its own path (path-inserted or
// at the root), never gated, its preflight and its 405s, the same bytes from both adapters.

const DOCUMENT = NOTES_METADATA_DOCUMENT
const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp'
const metadataHeaders = {
  'access-control-allow-origin': '*',
  'cache-control': 'public, max-age=3600',
  'content-type': 'application/json; charset=utf-8',
}
const METADATA_NOT_ALLOWED = {
  'access-control-allow-origin': '*',
  allow: 'GET, HEAD, OPTIONS',
  'cache-control': 'no-store',
}

export const METADATA_CASES: readonly MatrixCase[] = [
  // The metadata document (RFC 9728).
  {
    name: 'metadata GET: 200 JSON, public, cacheable, any origin',
    options: { resourceName: 'Notes' },
    request: { method: 'GET', path: METADATA_PATH, headers: { origin: ORIGIN } },
    expect: { status: 200, headers: metadataHeaders, body: DOCUMENT },
  },
  {
    name: 'metadata GET with a bad token still answers: never gated',
    options: { resourceName: 'Notes' },
    request: { method: 'GET', path: METADATA_PATH, headers: { authorization: 'Bearer x y' } },
    expect: { status: 200, headers: metadataHeaders, body: DOCUMENT },
  },
  {
    name: 'metadata GET with a query string',
    options: { resourceName: 'Notes' },
    request: { method: 'GET', path: `${METADATA_PATH}?x=1` },
    expect: { status: 200, headers: metadataHeaders, body: DOCUMENT },
  },
  {
    name: 'metadata HEAD: the headers of GET, no body',
    options: { resourceName: 'Notes' },
    request: { method: 'HEAD', path: METADATA_PATH },
    expect: {
      status: 200,
      headers: { ...metadataHeaders, 'content-length': String(JSON.stringify(DOCUMENT).length) },
      body: '',
    },
  },
  // A browser MCP client's discovery fetch carries MCP-Protocol-Version (and, through the SDK's
  // requestInit, the transport's own headers): the preflight must allow them or Chromium refuses
  // the fetch. Path-inserted and root documents, with and without a CORS policy of the gate's own.
  ...(
    [
      ['path-inserted', METADATA_PATH, {}, ''],
      ['root', '/.well-known/oauth-protected-resource', { resource: 'https://mcp.example.com/' }, ''],
      ['with cors.allowHeaders', METADATA_PATH, { cors: { allowHeaders: ['X-Tenant'] } }, ', X-Tenant'],
      ['with cors: false', METADATA_PATH, { cors: false }, ''],
    ] as const
  ).flatMap(([where, path, options, extra]) =>
    [
      ['GET', undefined],
      ['GET', 'mcp-protocol-version'],
      ['GET', 'content-type, mcp-protocol-version, x-custom-header'],
    ].map(
      ([method, requested]): MatrixCase => ({
        name: `metadata OPTIONS (${where}${requested === undefined ? '' : `, asking for ${requested}`}): a preflight answer for GET that allows the MCP headers`,
        options,
        request: {
          method: 'OPTIONS',
          path,
          headers: {
            origin: ORIGIN,
            'access-control-request-method': method!,
            ...(requested === undefined ? {} : { 'access-control-request-headers': requested }),
          },
        },
        expect: {
          status: 204,
          headers: {
            'access-control-allow-origin': '*',
            allow: 'GET, HEAD, OPTIONS',
            'access-control-allow-methods': 'GET, HEAD, OPTIONS',
            'access-control-allow-headers': `*, ${ALLOW_HEADERS}${extra}`,
            'access-control-max-age': '86400',
            'content-length': '0',
          },
          body: '',
        },
      }),
    ),
  ),
  ...(['POST', 'PUT', 'PATCH', 'DELETE'] as const).map(
    (method): MatrixCase => ({
      name: `metadata ${method}: 405 with Allow (RFC 9110 §15.5.6)`,
      request: {
        method,
        path: METADATA_PATH,
        ...(method === 'DELETE' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }),
      },
      expect: { status: 405, headers: METADATA_NOT_ALLOWED, body: '' },
    }),
  ),
  {
    name: 'scopes_supported follows scopes.supported; max-age follows metadataMaxAge',
    options: {
      scopes: { base: ['notes:read'], supported: ['notes:read', 'notes:write'] },
      metadataMaxAge: 60,
    },
    request: { method: 'GET', path: METADATA_PATH },
    expect: {
      status: 200,
      headers: { ...metadataHeaders, 'cache-control': 'public, max-age=60' },
      body: {
        resource: RESOURCE,
        authorization_servers: [ISSUER],
        scopes_supported: ['notes:read', 'notes:write'],
        bearer_methods_supported: ['header'],
      },
    },
  },
  {
    name: 'a resource at the origin root: the root well-known path',
    options: { resource: 'https://mcp.example.com/' },
    request: { method: 'GET', path: '/.well-known/oauth-protected-resource' },
    expect: {
      status: 200,
      headers: metadataHeaders,
      body: {
        resource: 'https://mcp.example.com',
        authorization_servers: [ISSUER],
        scopes_supported: ['notes:read'],
        bearer_methods_supported: ['header'],
      },
    },
  },
]
