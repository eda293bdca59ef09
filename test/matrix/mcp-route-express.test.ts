import t from 'tap'
import { mcpApp } from '../../packages/express/test/fixtures/mcp-app.js'

// The MCP route tests of @portcullis/fastify (packages/fastify/test/mcp-route.test.ts), run again
// with their `mcpApp` fixture served by @portcullis/express: the same requests, the same answers.
// (Its tests that build a Fastify app by hand run on Fastify again.)

const fixture = await import('../../packages/fastify/test/fixtures/mcp-app.js')
await t.mockImport('../../packages/fastify/test/mcp-route.test.ts', {
  '../../packages/fastify/test/fixtures/mcp-app.js': { ...fixture, mcpApp },
})
