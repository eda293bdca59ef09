import portcullis from '@portcullis/fastify'
import { NOTES_METADATA_DOCUMENT, tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { notesApp, notesOptions, stableHeaders } from './fixtures/app.js'

const kit = await tokenKit()
const PATH = '/.well-known/oauth-protected-resource/mcp'
const DOCUMENT = NOTES_METADATA_DOCUMENT

const app = await notesApp(kit, { resourceName: 'Notes' })
t.teardown(() => app.close())

t.test('GET: 200 JSON, public, cacheable, any origin (RFC 9728 §3.2)', async (t) => {
  const response = await app.inject({
    method: 'GET',
    url: PATH,
    headers: { origin: 'https://inspector.example' },
  })
  t.equal(response.statusCode, 200)
  t.same(response.json(), DOCUMENT)
  t.same(stableHeaders(response), {
    'access-control-allow-origin': '*',
    'cache-control': 'public, max-age=3600',
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(response.body.length),
    connection: 'keep-alive',
  })
})

t.test('GET with a (bad) token still gets the document: metadata is never gated', async (t) => {
  const response = await app.inject({ method: 'GET', url: PATH, headers: { authorization: 'Bearer x y' } })
  t.equal(response.statusCode, 200)
})

t.test('HEAD: the headers of GET, no body', async (t) => {
  const get = await app.inject({ method: 'GET', url: PATH })
  const head = await app.inject({ method: 'HEAD', url: PATH })
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
  t.same(stableHeaders(head), stableHeaders(get))
})

t.test('OPTIONS: a preflight answer for GET', async (t) => {
  const response = await app.inject({
    method: 'OPTIONS',
    url: PATH,
    headers: { origin: 'https://inspector.example', 'access-control-request-method': 'GET' },
  })
  t.equal(response.statusCode, 204)
  t.equal(response.body, '')
  t.same(stableHeaders(response), {
    'access-control-allow-origin': '*',
    allow: 'GET, HEAD, OPTIONS',
    'access-control-allow-methods': 'GET, HEAD, OPTIONS',
    'access-control-allow-headers':
      '*, Authorization, Content-Type, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name',
    'access-control-max-age': '86400',
    'content-length': '0',
    connection: 'keep-alive',
  })
})

t.test('any other method: 405 with Allow (RFC 9110 §15.5.6)', async (t) => {
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const response = await app.inject({ method, url: PATH, payload: method === 'DELETE' ? undefined : {} })
    t.equal(response.statusCode, 405, method)
    t.equal(response.body, '')
    t.same(stableHeaders(response), {
      'access-control-allow-origin': '*',
      allow: 'GET, HEAD, OPTIONS',
      'cache-control': 'no-store',
      'content-length': '0',
      connection: 'keep-alive',
    })
  }
})

t.test('scopes_supported follows scopes.supported when given; max-age follows metadataMaxAge', async (t) => {
  const custom = Fastify()
  t.teardown(() => custom.close())
  await custom.register(
    portcullis,
    notesOptions(kit, {
      scopes: { base: ['notes:read'], supported: ['notes:read', 'notes:write'] },
      metadataMaxAge: 60,
    }),
  )
  const response = await custom.inject(PATH)
  t.same(response.json().scopes_supported, ['notes:read', 'notes:write'])
  t.equal(response.headers['cache-control'], 'public, max-age=60')
})

t.test('a resource at the origin root is served at the root well-known path', async (t) => {
  const root = Fastify()
  t.teardown(() => root.close())
  await root.register(portcullis, notesOptions(kit, { resource: 'https://mcp.example.com/' }))
  root.post('/', async () => 'mcp')
  const response = await root.inject('/.well-known/oauth-protected-resource')
  t.equal(response.statusCode, 200)
  t.equal(response.json().resource, 'https://mcp.example.com')
  const challenge = (await root.inject({ method: 'POST', url: '/' })).headers['www-authenticate']
  t.match(challenge, 'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"')
})
