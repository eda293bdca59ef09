import { parseChallenges, withScopes } from '@portcullis/core'
import { mcpRouteCases } from '@portcullis/test-kit'
import t from 'tap'
import { mcpApp } from './fixtures/mcp-app.js'

// The test kit's MCP route cases (the behaviour that does not depend on the framework), on Express:
// the same requests as on @portcullis/fastify get the same answers.

await mcpRouteCases(t, { mcpApp, withScopes, parseChallenges })
