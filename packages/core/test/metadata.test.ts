import {
  protectedResourceMetadata,
  protectedResourceMetadataPaths,
  protectedResourceMetadataUrl,
} from '@portcullis/core'
import t from 'tap'

const AS = 'https://auth.example.com'

t.test('the minimal MCP document (checklist §1.2)', async (t) => {
  const document = protectedResourceMetadata({
    resource: 'https://mcp.example.com/mcp',
    authorizationServers: [AS],
    scopesSupported: ['mcp:basic'],
  })
  t.equal(
    JSON.stringify(document),
    '{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["mcp:basic"],"bearer_methods_supported":["header"]}',
  )
})

t.test('resource is canonical', async (t) => {
  t.equal(
    protectedResourceMetadata({ resource: 'HTTPS://MCP.Example.com:443/mcp/', authorizationServers: [AS] })
      .resource,
    'https://mcp.example.com/mcp',
  )
  t.equal(
    protectedResourceMetadata({ resource: new URL('https://a.example/'), authorizationServers: [AS] })
      .resource,
    'https://a.example',
  )
  t.equal(
    protectedResourceMetadata({ resource: 'http://localhost:3000/mcp', authorizationServers: [AS] }).resource,
    'http://localhost:3000/mcp',
  )
})

t.test('authorization servers are kept byte for byte, not canonicalised', async (t) => {
  const issuers = ['https://idp.example.com/realms/acme/', 'https://LOGIN.example.com:443/tenant/v2.0']
  t.same(
    protectedResourceMetadata({ resource: 'https://a.example', authorizationServers: issuers })
      .authorization_servers,
    issuers,
  )
  t.same(
    protectedResourceMetadata({ resource: 'https://a.example', authorizationServers: [AS, AS, `${AS}/`] })
      .authorization_servers,
    [AS, `${AS}/`],
    'exact duplicates dropped, a trailing slash is a different issuer',
  )
  t.same(
    protectedResourceMetadata({
      resource: 'https://a.example',
      authorizationServers: ['http://127.0.0.1:4000'],
    }).authorization_servers,
    ['http://127.0.0.1:4000'],
    'loopback http for development',
  )
})

t.test('at least one authorization server is required (MCP)', async (t) => {
  t.throws(() => protectedResourceMetadata({ resource: 'https://a.example', authorizationServers: [] }), {
    name: 'TypeError',
    message: /protectedResourceMetadata: option "authorizationServers": at least one authorization server/,
  })
  t.throws(() => protectedResourceMetadata({ resource: 'https://a.example' } as never), {
    name: 'TypeError',
    message: /option "authorizationServers"/,
  })
})

t.test('authorization servers must be issuer identifiers', async (t) => {
  for (const [issuer, why] of [
    ['auth.example.com', /is not an absolute URL/],
    ['http://auth.example.com', /must use https/],
    ['https://auth.example.com/?tenant=1', /must not contain a query/],
    ['https://auth.example.com/#x', /must not contain a fragment/],
    ['https://user:pw@auth.example.com', /must not contain credentials/],
    ['ftp://auth.example.com', /must use https/],
  ] as const) {
    t.throws(
      () => protectedResourceMetadata({ resource: 'https://a.example', authorizationServers: [issuer] }),
      { name: 'TypeError', message: why },
      issuer,
    )
  }
  t.throws(
    () => protectedResourceMetadata({ resource: 'https://a.example', authorizationServers: [42] as never }),
    {
      name: 'TypeError',
      message: /option "authorizationServers.0"/,
    },
  )
})

t.test('an invalid resource names the problem', async (t) => {
  t.throws(
    () => protectedResourceMetadata({ resource: 'http://mcp.example.com/mcp', authorizationServers: [AS] }),
    {
      name: 'TypeError',
      message: /option "resource".*must use https/,
    },
  )
  t.throws(
    () => protectedResourceMetadata({ resource: 'https://a.example/#f', authorizationServers: [AS] }),
    {
      message: /must not contain a fragment/,
    },
  )
  t.throws(() => protectedResourceMetadata({ resource: 42 as never, authorizationServers: [AS] }), {
    message: /option "resource"/,
  })
})

t.test('scopes_supported: deduplicated, offline_access dropped, omitted when empty', async (t) => {
  const base = { resource: 'https://a.example', authorizationServers: [AS] }
  t.same(
    protectedResourceMetadata({ ...base, scopesSupported: ['a', 'offline_access', 'b', 'a'] })
      .scopes_supported,
    ['a', 'b'],
  )
  t.notOk('scopes_supported' in protectedResourceMetadata({ ...base, scopesSupported: ['offline_access'] }))
  t.notOk('scopes_supported' in protectedResourceMetadata({ ...base, scopesSupported: [] }))
  t.notOk('scopes_supported' in protectedResourceMetadata(base))
  t.throws(() => protectedResourceMetadata({ ...base, scopesSupported: ['a b'] }), {
    name: 'TypeError',
    message: /option "scopesSupported.0": "a b" is not a valid scope/,
  })
})

t.test('resource_name and resource_documentation: included when set, omitted when empty', async (t) => {
  const base = { resource: 'https://a.example', authorizationServers: [AS] }
  const full = protectedResourceMetadata({
    ...base,
    resourceName: 'Notes',
    resourceDocumentation: 'https://docs.example/notes',
  })
  t.equal(full.resource_name, 'Notes')
  t.equal(full.resource_documentation, 'https://docs.example/notes')
  t.same(Object.keys(full), [
    'resource',
    'authorization_servers',
    'bearer_methods_supported',
    'resource_name',
    'resource_documentation',
  ])
  const empty = protectedResourceMetadata({ ...base, resourceName: '' })
  t.same(Object.keys(empty), ['resource', 'authorization_servers', 'bearer_methods_supported'])
  t.throws(() => protectedResourceMetadata({ ...base, resourceDocumentation: 'http://docs.example' }), {
    message: /option "resourceDocumentation".*must use https/,
  })
  t.throws(() => protectedResourceMetadata({ ...base, resourceName: 42 as never }), {
    message: /option "resourceName"/,
  })
})

t.test('unknown options are rejected (a typo should not pass silently)', async (t) => {
  t.throws(
    () =>
      protectedResourceMetadata({
        resource: 'https://a.example',
        authorizationServers: [AS],
        scopes: ['a'],
      } as never),
    { name: 'TypeError', message: /protectedResourceMetadata/ },
  )
})

t.test('bearer methods: header only', async (t) => {
  t.same(
    protectedResourceMetadata({ resource: 'https://a.example', authorizationServers: [AS] })
      .bearer_methods_supported,
    ['header'],
  )
})

t.test('the document is a fresh object each time', async (t) => {
  const input = { resource: 'https://a.example', authorizationServers: [AS], scopesSupported: ['a'] }
  const first = protectedResourceMetadata(input)
  first.authorization_servers.push('https://evil.example')
  first.scopes_supported!.push('b')
  const second = protectedResourceMetadata(input)
  t.same(second.authorization_servers, [AS])
  t.same(second.scopes_supported, ['a'])
  t.same(input.authorizationServers, [AS])
})

t.test('protectedResourceMetadataUrl inserts the well-known segment (RFC 9728 §3.1)', async (t) => {
  const cases: Array<[string, string]> = [
    ['https://mcp.example.com/mcp', 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'],
    [
      'https://mcp.example.com/public/mcp',
      'https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp',
    ],
    ['https://mcp.example.com', 'https://mcp.example.com/.well-known/oauth-protected-resource'],
    ['https://mcp.example.com/', 'https://mcp.example.com/.well-known/oauth-protected-resource'],
    ['https://MCP.example.com:443/mcp/', 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'],
    [
      'https://mcp.example.com:8443/mcp',
      'https://mcp.example.com:8443/.well-known/oauth-protected-resource/mcp',
    ],
    [
      'https://mcp.example.com/mcp?tenant=a',
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp?tenant=a',
    ],
    [
      'https://mcp.example.com/?tenant=a',
      'https://mcp.example.com/.well-known/oauth-protected-resource?tenant=a',
    ],
    ['http://127.0.0.1:3000/mcp', 'http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp'],
    ['http://[::1]:3000/mcp', 'http://[::1]:3000/.well-known/oauth-protected-resource/mcp'],
    ['https://a.example/caf\u00e9', 'https://a.example/.well-known/oauth-protected-resource/caf%C3%A9'],
  ]
  for (const [resource, expected] of cases)
    t.equal(protectedResourceMetadataUrl(resource), expected, resource)
  t.equal(
    protectedResourceMetadataUrl(new URL('https://a.example/mcp')),
    'https://a.example/.well-known/oauth-protected-resource/mcp',
  )
})

t.test('protectedResourceMetadataUrl rejects what canonicalResource rejects', async (t) => {
  for (const resource of ['http://a.example/mcp', 'https://a.example/mcp#x', 'not a url']) {
    t.throws(() => protectedResourceMetadataUrl(resource), { name: 'TypeError' }, resource)
  }
})

t.test('protectedResourceMetadataPaths: path-inserted, root for a resource without a path', async (t) => {
  t.same(protectedResourceMetadataPaths('https://mcp.example.com/mcp'), [
    '/.well-known/oauth-protected-resource/mcp',
  ])
  t.same(protectedResourceMetadataPaths('https://mcp.example.com/a/b/'), [
    '/.well-known/oauth-protected-resource/a/b',
  ])
  t.same(protectedResourceMetadataPaths('https://mcp.example.com'), ['/.well-known/oauth-protected-resource'])
  t.same(protectedResourceMetadataPaths('https://mcp.example.com/'), [
    '/.well-known/oauth-protected-resource',
  ])
  t.same(
    protectedResourceMetadataPaths('https://mcp.example.com/mcp?x=1'),
    ['/.well-known/oauth-protected-resource/mcp'],
    'no query',
  )
  t.throws(() => protectedResourceMetadataPaths('ftp://a.example/x'), { name: 'TypeError' })
})

t.test('the URL and the document agree: the document names the resource whose URL it sits at', async (t) => {
  for (const resource of [
    'https://mcp.example.com/mcp/',
    'https://mcp.example.com',
    'https://mcp.example.com/x?y=1',
  ]) {
    const document = protectedResourceMetadata({ resource, authorizationServers: [AS] })
    const url = new URL(protectedResourceMetadataUrl(resource))
    // RFC 9728 §3.3: removing the well-known segment from the URL gives back `resource`.
    const back = `${url.origin}${url.pathname.replace('/.well-known/oauth-protected-resource', '')}${url.search}`
    t.equal(back, document.resource, resource)
    t.ok(protectedResourceMetadataPaths(resource).includes(url.pathname))
  }
})
