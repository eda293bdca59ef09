import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { type AuthInfo, createGate, withScopes } from '@portcullis/core'
import { createMcpEndpoint } from '@portcullis/core/adapter'
import t, { type Test } from 'tap'

// A stateless endpoint builds a server per request and wraps its list handlers only when the
// body lists something: these tests hold that every body still gets what the route promises.

const RESOURCE = 'https://mcp.example.com/mcp'
const callers: Record<string, AuthInfo> = {
  reader: { token: 'r', clientId: 'app', scopes: ['notes:read'], extra: { iss: 'https://idp', sub: 'r' } },
  writer: { token: 'w', clientId: 'app', scopes: ['notes:write'], extra: { iss: 'https://idp', sub: 'w' } },
}

function notes() {
  const server = new McpServer({ name: 'notes', version: '1' })
  withScopes(server, 'notes:read').registerTool('read', {}, async () => ({
    content: [{ type: 'text' as const, text: 'read' }],
  }))
  withScopes(server, 'notes:write').registerTool('write', {}, async () => ({
    content: [{ type: 'text' as const, text: 'written' }],
  }))
  return server
}

async function statelessApp(t: Test, listing: 'granted' | 'obtainable') {
  const gate = createGate({
    resource: RESOURCE,
    authorizationServers: ['https://id.example.com'],
    verifier: { verifyAccessToken: async () => Promise.reject(new Error('unused')) },
    scopes: { implies: { 'notes:write': ['notes:read'] } },
  })
  let built = 0
  const endpoint = await createMcpEndpoint(
    gate,
    {
      server: () => {
        built++
        return notes()
      },
      transport: StreamableHTTPServerTransport,
      sessions: false,
      listing,
      transportOptions: { enableJsonResponse: true },
    },
    'test',
  )
  const http = createServer(async (req, res) => {
    const body = JSON.parse(await read(req))
    const decision = endpoint.handle({
      method: req.method ?? 'POST',
      sessionId: req.headers['mcp-session-id'],
      body,
      auth: callers[String(req.headers['x-caller'])],
    })
    if (decision.kind === 'reply') {
      res.writeHead(decision.status, decision.headers).end(JSON.stringify(decision.body))
      return
    }
    await decision.serve(req, res, (error) => t.error(error))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await endpoint.close()
    await new Promise((resolve) => http.close(resolve))
  })
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`
  const post = async (caller: string, body: unknown, version = '2025-06-18') => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'x-caller': caller,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': version,
      },
      body: JSON.stringify(body),
    })
    return { status: response.status, json: (await response.json()) as unknown }
  }
  return { post, built: () => built }
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      text += chunk
    })
    req.on('end', () => resolve(text))
    req.on('error', reject)
  })
}

const list = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' })
const call = (id: number, name: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {} },
})
type ListAnswer = { result: { tools: { name: string; _meta?: Record<string, unknown> }[] } }

t.test('stateless: a call-only body is served and guarded, a listing body shaped per caller', async (t) => {
  const app = await statelessApp(t, 'granted')

  const called = await app.post('reader', call(1, 'read'))
  t.equal(called.status, 200)
  t.match(called.json, { result: { content: [{ text: 'read' }] } })
  const refused = await app.post('reader', call(2, 'write'))
  t.equal(refused.status, 403, 'the route refuses before the SDK runs')

  const readerList = await app.post('reader', list(3))
  t.same(
    (readerList.json as ListAnswer).result.tools.map((tool) => tool.name),
    ['read'],
    'granted listing: the reader does not see write',
  )
  t.same((readerList.json as ListAnswer).result.tools[0]?._meta?.['portcullis/scopes'], {
    required: ['notes:read'],
    missing: [],
  })
  const writerList = await app.post('writer', list(4))
  t.same(
    (writerList.json as ListAnswer).result.tools.map((tool) => tool.name),
    ['read', 'write'],
    'notes:write implies notes:read: both listed',
  )
  t.equal(app.built(), 4, 'the startup probe, then one server per served request (the 403 built none)')
})

t.test('stateless: a 2025-03-26 batch that calls and lists gets the shaped list', async (t) => {
  const app = await statelessApp(t, 'obtainable')
  const answer = await app.post('reader', [call(1, 'read'), list(2)], '2025-03-26')
  t.equal(answer.status, 200)
  const replies = answer.json as { id: number; result: unknown }[]
  t.equal(replies.length, 2)
  const listed = replies.find((reply) => reply.id === 2) as unknown as ListAnswer
  t.same(
    listed.result.tools.map((tool) => [tool.name, tool._meta?.['portcullis/scopes']]),
    [
      ['read', { required: ['notes:read'], missing: [] }],
      ['write', { required: ['notes:write'], missing: ['notes:write'] }],
    ],
    'every tool names its scopes and what this caller lacks',
  )
  t.match(
    replies.find((reply) => reply.id === 1),
    { result: { content: [{ text: 'read' }] } },
  )
})
