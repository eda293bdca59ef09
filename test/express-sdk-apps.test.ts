// @portcullis/express inside the Express apps the MCP SDKs create (`createMcpExpressApp` of 1.x and
// of @modelcontextprotocol/express 2.x: DNS rebinding checks and a JSON parser before the gate),
// with tools declared by withScopes, driven by the real SDK clients of both lines.
import { createServer } from 'node:http'
import { InsufficientScopeError } from '@modelcontextprotocol/client'
import { createMcpExpressApp as createAppV2 } from '@modelcontextprotocol/express'
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node'
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createMcpExpressApp as createAppV1 } from '@modelcontextprotocol/sdk/server/express.js'
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpHandler, McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import { authInfoFrom, jwtVerifier, withScopes } from '@portcullis/core'
import { mcpRoute, portcullis } from '@portcullis/express'
import { connectV1, connectV2, startJwksIssuer, toolNames } from '@portcullis/test-kit'
import type { Express } from 'express'
import t from 'tap'
import { missingScopesByName } from './fixtures/journey-assertions.js'

/** A reports:read token: every tool listed, delete_reports naming the scope a step-up needs. */
const READER_MISSING = { whoami: [], list_reports: [], delete_reports: ['reports:admin'] }

const issuer = await startJwksIssuer()
t.teardown(issuer.close)

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] })

/** The tools of a reports server on either SDK line, each with its scopes where it is registered. */
function registerTools(server: McpServerV1 | McpServerV2) {
  const scoped = (scope?: string) =>
    withScopes(server as McpServerV1, ...(scope === undefined ? [] : [scope]))
  scoped().registerTool('whoami', {}, async (ctx: unknown) => text(String(authInfoFrom(ctx)?.extra?.sub)))
  scoped('reports:read').registerTool('list_reports', {}, async () => text('q1, q2'))
  scoped('reports:admin').registerTool('delete_reports', {}, async () => text('deleted'))
}

/** An SDK-made Express app on 127.0.0.1 (its DNS rebinding checks want a loopback Host). */
async function serve(build: (resource: string) => Promise<Express>) {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`
  server.on('request', await build(url))
  return {
    url,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

const gateFor = (resource: string) =>
  portcullis({
    resource,
    authorizationServers: [issuer.issuer],
    verifier: jwtVerifier({ issuer: issuer.issuer, audience: resource, jwksUri: issuer.jwksUri }),
    scopes: { base: ['reports:read'], implies: { 'reports:admin': ['reports:read'] } },
  })

t.test('1.x: createMcpExpressApp, StreamableHTTPServerTransport, 1.x client', async (t) => {
  const app = await serve(async (resource) => {
    const express = createAppV1()
    const auth = gateFor(resource)
    express.use(auth)
    const route = await mcpRoute(auth, {
      server: () => {
        const server = new McpServerV1({ name: 'reports', version: '1.0.0' })
        registerTools(server)
        return server
      },
      transport: StreamableHTTPServerTransport,
    })
    t.teardown(route.close)
    express.use(route)
    return express
  })
  t.teardown(app.close)

  const reader = await issuer.mint({ sub: 'rita', scope: 'reports:read', aud: app.url })
  const { client } = await connectV1(app.url, reader)
  t.same(missingScopesByName((await client.listTools()).tools), READER_MISSING)
  t.same((await client.callTool({ name: 'whoami', arguments: {} })).content, text('rita').content)
  const denied = await client.callTool({ name: 'delete_reports', arguments: {} }).catch((e: unknown) => e)
  t.type(denied, StreamableHTTPError)
  t.equal((denied as StreamableHTTPError).code, 403)
  await client.close()

  const admin = await issuer.mint({ sub: 'rita', scope: 'reports:admin', aud: app.url })
  const second = await connectV1(app.url, admin)
  t.same(toolNames(await second.client.listTools()), ['delete_reports', 'list_reports', 'whoami'])
  await second.client.close()
})

t.test('2.x: @modelcontextprotocol/express app, 2026-07-28 and 2025-era clients', async (t) => {
  const app = await serve(async (resource) => {
    const express = createAppV2()
    const auth = gateFor(resource)
    express.use(auth)
    const route = await mcpRoute(auth, {
      server: () => {
        const server = new McpServerV2({ name: 'reports', version: '1.0.0' })
        registerTools(server)
        return server
      },
      transport: NodeStreamableHTTPServerTransport,
      handler: (factory) => toNodeHandler(createMcpHandler(factory)),
    })
    t.teardown(route.close)
    express.use(route)
    return express
  })
  t.teardown(app.close)

  for (const modern of [true, false]) {
    const token = { current: await issuer.mint({ sub: 'sam', scope: 'reports:read', aud: app.url }) }
    const { client, transport } = await connectV2(app.url, token, { modern })
    t.equal(typeof transport.sessionId, modern ? 'undefined' : 'string', modern ? 'no session' : 'a session')
    t.same(missingScopesByName((await client.listTools()).tools), READER_MISSING)
    t.same((await client.callTool({ name: 'whoami', arguments: {} })).content, text('sam').content)
    const denied = await client.callTool({ name: 'delete_reports', arguments: {} }).catch((e: unknown) => e)
    t.type(denied, InsufficientScopeError)
    t.equal((denied as InsufficientScopeError).requiredScope, 'reports:admin')
    // Step-up: the same user and client with the challenged scope.
    token.current = await issuer.mint({ sub: 'sam', scope: 'reports:admin', aud: app.url })
    t.same(
      (await client.callTool({ name: 'delete_reports', arguments: {} })).content,
      text('deleted').content,
    )
    await client.close()
  }
})

t.test('the SDK apps refuse a rebound Host before the gate looks at the token', async (t) => {
  const app = await serve(async (resource) => {
    const express = createAppV2()
    express.use(gateFor(resource))
    return express
  })
  t.teardown(app.close)
  const { request } = await import('node:http')
  const target = new URL(app.url)
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { host: 'evil.example' },
      },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.on('error', reject)
    req.end()
  })
  t.equal(status, 403)
})
