import { parseChallenges, withScopes } from '@portcullis/core'
import { mcpRouteCases } from '@portcullis/test-kit'
import t from 'tap'
import { mcpApp } from './fixtures/mcp-app.js'

// The test kit's MCP route cases (the behaviour that does not depend on the framework), on Fastify;
// @portcullis/express runs the same cases.

await mcpRouteCases(t, { mcpApp, withScopes, parseChallenges })
