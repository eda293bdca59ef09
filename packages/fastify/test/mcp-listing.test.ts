import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import {
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import { type ListedScopes, SCOPES_META_KEY, withScopes } from '@portcullis/core'
import { tokenKit } from '@portcullis/test-kit'
import t from 'tap'
import { libraryServer, text } from './fixtures/library-server.js'
import { client, mcpApp } from './fixtures/mcp-app.js'

const kit = await tokenKit()
const VENDOR = { tools: { vendor_export: ['reports:read'] } }

type Listed = { _meta?: Record<string, unknown> }
const scopesOf = (item: Listed) => item._meta?.[SCOPES_META_KEY] as ListedScopes | undefined
/** `missing` of each item by its key (name, uri or uriTemplate). */
const missingBy = <T extends Listed>(items: T[], key: (item: T) => string) =>
  Object.fromEntries(items.map((item) => [key(item), scopesOf(item)?.missing]))

async function listsFor(route: Record<string, unknown>, scope: string) {
  const { app, url } = await mcpApp(kit, {
    server: libraryServer,
    transport: StreamableHTTPServerTransport,
    scopes: VENDOR,
    ...route,
  })
  const c = await client(url, await kit.mint({ scope }))
  try {
    const tools = (await c.listTools()).tools
    return {
      tools: missingBy(tools, (tool) => tool.name),
      required: Object.fromEntries(tools.map((tool) => [tool.name, scopesOf(tool)?.required])),
      prompts: missingBy((await c.listPrompts()).prompts, (prompt) => prompt.name),
      resources: missingBy((await c.listResources()).resources, (resource) => resource.uri),
      templates: missingBy(
        (await c.listResourceTemplates()).resourceTemplates,
        (template) => template.uriTemplate,
      ),
    }
  } finally {
    await c.close()
    await app.close()
  }
}

t.test(
  'default listing (obtainable): every item, each naming its scopes, so step-up stays reachable',
  async (t) => {
    const lists = await listsFor({}, 'notes:read')
    t.same(lists.tools, {
      ping: [],
      write: ['notes:write'],
      vendor_export: ['reports:read'],
      vendor_other: [],
    })
    t.same(lists.required, {
      ping: [],
      write: ['notes:write'],
      vendor_export: ['reports:read'],
      vendor_other: [],
    })
    t.same(lists.prompts, { summary: [] })
    t.same(lists.resources, { 'notes://all': [] })
    t.same(lists.templates, { 'notes://{id}/history': ['notes:admin'] }, 'what the 403 would name')
    const admin = await listsFor({}, 'notes:admin')
    t.same(admin.tools.write, [], 'notes:admin implies notes:write: nothing missing')
    t.same(admin.required.write, ['notes:write'], 'required does not depend on the caller')
  },
)

t.test('obtainableScopes narrows what a step-up can reach; held scopes always list', async (t) => {
  const route = { obtainableScopes: ['notes:read', 'notes:write'] }
  const reader = await listsFor(route, 'notes:read')
  t.same(
    Object.keys(reader.tools).sort(),
    ['ping', 'vendor_other', 'write'],
    'reports:read is not obtainable',
  )
  t.same(reader.templates, {}, 'notes:admin is not obtainable: the template is hidden')
  const admin = await listsFor(route, 'notes:admin reports:read')
  t.same(Object.keys(admin.tools).sort(), ['ping', 'vendor_export', 'vendor_other', 'write'])
  t.same(admin.templates, { 'notes://{id}/history': [] }, 'a caller holding the scope sees it')
})

t.test("listing: 'granted' hides what the token cannot use; 'all' shows everything", async (t) => {
  const granted = await listsFor({ listing: 'granted' }, 'notes:read')
  t.same(granted.tools, { ping: [], vendor_other: [] })
  t.same(granted.prompts, { summary: [] })
  t.same(granted.resources, { 'notes://all': [] })
  t.same(granted.templates, {})
  const all = await listsFor({ listing: 'all', obtainableScopes: undefined }, 'profile')
  t.same(all.tools, {
    ping: [],
    write: ['notes:write'],
    vendor_export: ['reports:read'],
    vendor_other: [],
  })
  t.same(all.prompts, { summary: ['notes:read'] })
  const legacy = await listsFor({ listAll: false }, 'notes:read')
  t.same(legacy.tools, granted.tools, 'listAll: false (the former default) is granted')
})

t.test('listing options are validated at startup, naming the owner', async (t) => {
  const bad = [
    [{ listing: 'some' }, /listing/],
    [
      { listing: 'granted', obtainableScopes: ['notes:read'] },
      /obtainableScopes applies to listing: 'obtainable' only/,
    ],
    [{ listing: 'all', listAll: true }, /listAll is the former name of listing/],
    [{ obtainableScopes: ['two words'] }, /obtainableScopes/],
  ] as const
  for (const [route, message] of bad) {
    await t.rejects(
      mcpApp(kit, { server: libraryServer, transport: StreamableHTTPServerTransport, ...(route as object) }),
      { message },
      JSON.stringify(route),
    )
  }
})

t.test('an item keeps its own _meta next to the scopes', async (t) => {
  const server = () => {
    const s = new McpServerV2({ name: 'meta', version: '1.0.0' })
    withScopes(s, 'notes:write').registerTool('tagged', { _meta: { 'example.com/tag': 1 } }, async () =>
      text('ok'),
    )
    withScopes(s, 'notes:read').registerTool('read', {}, async () => text('ok'))
    return s
  }
  const { app, url } = await mcpApp(kit, { server, transport: NodeStreamableHTTPServerTransport })
  t.teardown(() => app.close())
  const c = await client(url, await kit.mint({ scope: 'notes:read' }))
  t.teardown(() => c.close())
  const tool = (await c.listTools()).tools.find((item) => item.name === 'tagged')
  t.same(tool?._meta, {
    'example.com/tag': 1,
    [SCOPES_META_KEY]: { required: ['notes:write'], missing: ['notes:write'] },
  })
})

/** A fetch that sends whichever token `current()` holds: the same session, a new token (a step-up). */
const swappingFetch =
  (current: () => string): typeof fetch =>
  (input, init) => {
    const headers = new Headers(init?.headers)
    headers.set('authorization', `Bearer ${current()}`)
    return fetch(input, { ...init, headers })
  }

/** Resolves when `count()` reaches `n`; rejects after a generous bound (the machine is shared). */
async function reaches(count: () => number, n: number, what: string) {
  for (let waited = 0; waited < 20_000; waited += 25) {
    if (count() >= n) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`${what}: ${count()} of ${n} notifications`)
}

const builders = {
  '1.x server': { server: libraryServer, transport: StreamableHTTPServerTransport, kinds: 3 },
  '2.x server': {
    server: () => {
      const s = new McpServerV2({ name: 'v2', version: '1.0.0' })
      withScopes(s, 'notes:read').registerTool('read', {}, async () => text('ok'))
      withScopes(s, 'notes:write').registerTool('write', {}, async () => text('ok'))
      return s
    },
    transport: NodeStreamableHTTPServerTransport,
    kinds: 1,
  },
} as const

for (const [name, { server, transport, kinds }] of Object.entries(builders)) {
  t.test(
    `${name}: a session whose caller presents other scopes gets the list_changed it advertises`,
    async (t) => {
      const { app, url } = await mcpApp(kit, { server, transport, scopes: VENDOR })
      t.teardown(() => app.close())
      const tokens = {
        read: await kit.mint({ scope: 'notes:read' }),
        write: await kit.mint({ scope: 'notes:read notes:write' }),
      }
      let token = tokens.read
      const c = await client(
        url,
        token,
        swappingFetch(() => token),
      )
      t.teardown(() => c.close())
      const seen: string[] = []
      c.setNotificationHandler(ToolListChangedNotificationSchema, () => void seen.push('tools'))
      c.setNotificationHandler(PromptListChangedNotificationSchema, () => void seen.push('prompts'))
      c.setNotificationHandler(ResourceListChangedNotificationSchema, () => void seen.push('resources'))
      const session = c.http.sessionId
      t.same(scopesOf((await c.listTools()).tools.find((tool) => tool.name === 'write')!)?.missing, [
        'notes:write',
      ])

      token = tokens.write
      t.same(scopesOf((await c.listTools()).tools.find((tool) => tool.name === 'write')!)?.missing, [])
      await reaches(() => seen.length, kinds, 'after the step-up')
      t.same([...seen].sort(), kinds === 3 ? ['prompts', 'resources', 'tools'] : ['tools'])
      t.equal(c.http.sessionId, session, 'the same session')

      // The same scopes again: nothing to announce. Then back to fewer scopes: announced again.
      await c.listTools()
      token = tokens.read
      await c.listTools()
      await reaches(() => seen.length, 2 * kinds, 'after the scopes narrowed')
      t.equal(seen.length, 2 * kinds, 'one announcement per change of scopes, none for the same scopes')
    },
  )
}
