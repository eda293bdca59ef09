// OpenTelemetry through both adapters, recorded by the SDK's in-memory exporters: a span per
// authentication and upstream fetch, decision and cache metrics, and the MCP route's span joining
// the trace the client put in `params._meta` (SEP-414), with the tool handler's span under it.
import { createServer, type RequestListener, type Server } from 'node:http'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpHandler, McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import { SpanKind } from '@opentelemetry/api'
import type { Histogram } from '@opentelemetry/sdk-metrics'
import { type GateOptions, jwtVerifier, tokenFingerprint, withScopes } from '@portcullis/core'
import { mcpRoute as expressMcpRoute, portcullis as expressPortcullis } from '@portcullis/express'
import { mcpRoute as fastifyMcpRoute, portcullis as fastifyPortcullis } from '@portcullis/fastify'
import { type JwksIssuer, startJwksIssuer } from '@portcullis/test-kit'
import express from 'express'
import Fastify from 'fastify'
import t from 'tap'
import { startTelemetry, type Telemetry } from './fixtures/telemetry.js'

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c'
const CLIENT_SPAN = 'b7ad6b7169203331'
const TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`

/** An MCP server whose `traced` tool opens a span of its own; `admin` needs a scope callers lack. */
function buildServer(telemetry: Telemetry) {
  return () => {
    const server = new McpServer({ name: 'telemetry-test', version: '1.0.0' })
    withScopes(server, 'notes:read').registerTool('traced', { description: 'opens a span' }, async () =>
      telemetry.tracerProvider.getTracer('tool').startActiveSpan('tool work', (span) => {
        span.end()
        return { content: [{ type: 'text' as const, text: 'done' }] }
      }),
    )
    withScopes(server, 'notes:admin').registerTool(
      'admin',
      { description: 'needs notes:admin' },
      async () => ({
        content: [{ type: 'text' as const, text: 'admin' }],
      }),
    )
    return server
  }
}

function gateOptions(issuer: JwksIssuer, resource: string): GateOptions {
  return {
    resource,
    authorizationServers: [issuer.issuer],
    verifier: jwtVerifier({ issuer: issuer.issuer, audience: resource, jwksUri: issuer.jwksUri }),
    scopes: { base: ['notes:read'] },
  }
}

interface App {
  url: string
  close(): Promise<void>
}

async function listen(): Promise<{ server: Server; origin: string }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` }
}

const closeServer = (server: Server) => {
  server.closeAllConnections()
  return new Promise<void>((resolve) => server.close(() => resolve()))
}

/** A Fastify app on a server already listening (the resource URL needs its port first). */
const fastifyOn = (server: Server) =>
  Fastify({
    serverFactory: ((handler: RequestListener) => {
      server.on('request', handler)
      return server
    }) as never,
  })

async function fastifyApp(issuer: JwksIssuer, telemetry: Telemetry): Promise<App> {
  const { server, origin } = await listen()
  const app = fastifyOn(server)
  await app.register(fastifyPortcullis, gateOptions(issuer, `${origin}/mcp`))
  await app.register(fastifyMcpRoute, {
    server: buildServer(telemetry),
    transport: StreamableHTTPServerTransport,
  })
  await app.ready()
  return {
    url: `${origin}/mcp`,
    close: async () => {
      await app.close()
      await closeServer(server)
    },
  }
}

async function expressApp(issuer: JwksIssuer, telemetry: Telemetry): Promise<App> {
  const { server, origin } = await listen()
  const app = express()
  const auth = expressPortcullis(gateOptions(issuer, `${origin}/mcp`))
  app.use(auth)
  const mcp = await expressMcpRoute(auth, {
    server: buildServer(telemetry),
    transport: StreamableHTTPServerTransport,
  })
  app.use(mcp)
  server.on('request', app)
  return {
    url: `${origin}/mcp`,
    close: async () => {
      await mcp.close()
      await closeServer(server)
    },
  }
}

const sum = (points: { value: unknown }[]) => points.reduce((total, p) => total + (p.value as number), 0)

for (const [name, start] of [
  ['fastify', fastifyApp],
  ['express', expressApp],
] as const) {
  t.test(
    `${name}: spans and metrics of decisions, and the client's trace joined through _meta`,
    async (t) => {
      const issuer = await startJwksIssuer()
      t.teardown(issuer.close)
      const telemetry = await startTelemetry()
      t.teardown(telemetry.stop)
      const app = await start(issuer, telemetry)
      t.teardown(app.close)
      const token = await issuer.mint({ sub: 'alice', scope: 'notes:read', aud: app.url })

      const anonymous = await fetch(app.url, { method: 'POST', body: '{}' })
      t.equal(anonymous.status, 401)

      const client = new Client({ name: 'telemetry-client', version: '1.0.0' })
      const transport = new StreamableHTTPClientTransport(new URL(app.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      })
      await client.connect(transport)
      t.teardown(() => client.close())
      const result = await client.callTool({
        name: 'traced',
        arguments: {},
        _meta: { traceparent: TRACEPARENT, tracestate: 'vendor=opaque' },
      })
      t.match(result, { content: [{ type: 'text', text: 'done' }] })
      await t.rejects(client.callTool({ name: 'admin', arguments: {} }), 'admin needs a scope alice lacks')

      const spans = telemetry.spans()
      const text = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes })))
      t.notOk(text.includes(token), 'no span holds the token')

      // Decisions: the anonymous request, then the token (verified once, then from the cache).
      const authentications = spans.filter((s) => s.name === 'portcullis.authenticate')
      t.match(authentications[0]?.attributes, {
        'portcullis.outcome': 'refused',
        'portcullis.reason': 'credentials_missing',
        'http.response.status_code': 401,
      })
      t.notOk('portcullis.cache.hit' in (authentications[0]?.attributes ?? {}), 'no token, no cache lookup')
      const allowed = authentications.filter((s) => s.attributes['portcullis.outcome'] === 'allowed')
      t.ok(allowed.length >= 3, 'initialize, initialized, tools/call... each authenticated')
      t.match(allowed[0]?.attributes, {
        'portcullis.issuer': issuer.issuer,
        'portcullis.client_id': 'notes-client',
        'portcullis.token.fingerprint': tokenFingerprint(token),
        'portcullis.scopes.granted': ['notes:read'],
        'portcullis.cache.hit': false,
      })
      t.ok(
        allowed.slice(1).every((s) => s.attributes['portcullis.cache.hit'] === true),
        'later requests answered from the cache',
      )
      const fetches = spans.filter((s) => s.name === 'portcullis.jwks.fetch')
      t.equal(fetches.length, 1, 'one key set fetch')
      t.equal(fetches[0]?.kind, SpanKind.CLIENT)
      t.equal(fetches[0]?.attributes['url.full'], issuer.jwksUri)

      // The MCP span: a child of the client's span from _meta, the tool's own span under it.
      const call = spans.find((s) => s.name === 'tools/call traced')
      t.ok(call, 'a span for the tool call')
      t.equal(call?.kind, SpanKind.SERVER)
      t.equal(call?.spanContext().traceId, CLIENT_TRACE, "the client's trace")
      t.equal(call?.parentSpanContext?.spanId, CLIENT_SPAN, "the client's span is the parent")
      t.equal(call?.spanContext().traceState?.get('vendor'), 'opaque', 'tracestate carried')
      t.match(call?.attributes, {
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'traced',
        'gen_ai.operation.name': 'execute_tool',
        'mcp.session.id': String,
        'jsonrpc.request.id': String,
        'http.response.status_code': 200,
      })
      const work = spans.find((s) => s.name === 'tool work')
      t.equal(work?.spanContext().traceId, CLIENT_TRACE, "the tool's span joins the client's trace")
      t.equal(work?.parentSpanContext?.spanId, call?.spanContext().spanId, 'under the MCP span')
      const initialize = spans.find((s) => s.name === 'initialize')
      t.ok(initialize, 'a span for initialize')
      t.not(initialize?.spanContext().traceId, CLIENT_TRACE, 'a message without _meta stays in its own trace')
      const denied = spans.find((s) => s.name === 'tools/call admin')
      t.notOk(denied, 'a step-up is answered before the MCP server: no MCP span')

      // Metrics.
      const decisions = await telemetry.points('portcullis.gate.decisions')
      const count = (attributes: Record<string, unknown>) =>
        sum(decisions.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v)))
      t.equal(count({ 'portcullis.outcome': 'refused', 'portcullis.reason': 'credentials_missing' }), 1)
      t.equal(count({ 'portcullis.outcome': 'allowed' }), allowed.length)
      t.equal(count({ 'portcullis.outcome': 'step_up', 'portcullis.reason': 'scope_insufficient' }), 1)
      const lookups = await telemetry.points('portcullis.gate.cache.lookups')
      const miss = lookups.find((p) => p.attributes['portcullis.cache.result'] === 'miss')
      const hit = lookups.find((p) => p.attributes['portcullis.cache.result'] === 'hit')
      t.equal(miss?.value, 1)
      t.equal(hit?.value, allowed.length - 1)
      const durations = await telemetry.points('portcullis.gate.authentication.duration')
      t.equal(
        durations.reduce((total, p) => total + (p.value as Histogram).count, 0),
        authentications.length,
        'one duration per authentication',
      )
      const jwks = await telemetry.points('portcullis.jwks.fetches')
      t.match(jwks, [{ attributes: { 'portcullis.upstream.outcome': 'ok' }, value: 1 }])
    },
  )
}

t.test(
  'fastify, MCP SDK 2.x: a 2026-07-28 request served by createMcpHandler joins the trace too',
  async (t) => {
    const issuer = await startJwksIssuer()
    t.teardown(issuer.close)
    const telemetry = await startTelemetry()
    t.teardown(telemetry.stop)
    const { server, origin } = await listen()
    const app = fastifyOn(server)
    t.teardown(async () => {
      await app.close()
      await closeServer(server)
    })
    const url = `${origin}/mcp`
    await app.register(fastifyPortcullis, gateOptions(issuer, url))
    await app.register(fastifyMcpRoute, {
      server: () => {
        const mcp = new McpServerV2({ name: 'telemetry-test', version: '1.0.0' })
        withScopes(mcp, 'notes:read').registerTool('traced', { description: 'opens a span' }, async () =>
          telemetry.tracerProvider.getTracer('tool').startActiveSpan('tool work', (span) => {
            span.end()
            return { content: [{ type: 'text' as const, text: 'done' }] }
          }),
        )
        return mcp
      },
      transport: NodeStreamableHTTPServerTransport,
      handler: (factory) => toNodeHandler(createMcpHandler(factory)),
    })
    await app.ready()
    const token = await issuer.mint({ sub: 'alice', scope: 'notes:read', aud: url })
    const authorized: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers)
      headers.set('authorization', `Bearer ${token}`)
      return fetch(input, { ...init, headers })
    }
    const client = new ClientV2(
      { name: 'telemetry-client', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    )
    await client.connect(new TransportV2(new URL(url), { fetch: authorized }))
    t.teardown(() => client.close())
    const result = await client.callTool({
      name: 'traced',
      arguments: {},
      _meta: { traceparent: TRACEPARENT },
    })
    t.match(result, { content: [{ type: 'text', text: 'done' }] })

    const spans = telemetry.spans()
    const call = spans.find((s) => s.name === 'tools/call traced')
    t.ok(call, 'a span for the tool call')
    t.equal(call?.spanContext().traceId, CLIENT_TRACE)
    t.equal(call?.parentSpanContext?.spanId, CLIENT_SPAN)
    t.notOk(call?.attributes['mcp.session.id'], '2026-07-28: no session')
    t.equal(call?.attributes['mcp.protocol.version'], '2026-07-28')
    const work = spans.find((s) => s.name === 'tool work')
    t.equal(work?.parentSpanContext?.spanId, call?.spanContext().spanId, "the tool's span under the MCP span")
    t.equal(work?.spanContext().traceId, CLIENT_TRACE)
  },
)
