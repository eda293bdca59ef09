// A machine identity: the client credentials grant, tokens renewed before expiry and after a 401,
// a step-up on 403 insufficient_scope, the token cached in a file between runs.
import { authFetch, clientCredentials, fileTokenStore } from '@portcullis/client'
import { callWhoami } from './call-whoami.js'
import { ISSUER, MCP_URL, required, TOKEN_FILE } from './settings.js'

const fetch = authFetch(
  clientCredentials({
    issuer: ISSUER,
    clientId: process.env.CLIENT_ID ?? 'dev-machine',
    clientSecret: required('CLIENT_SECRET', 'the machine client secret (the dev IdP banner prints it)'),
    scopes: ['notes:read'],
    resource: MCP_URL,
  }),
  { store: fileTokenStore(TOKEN_FILE), refreshBeforeExpiry: 60, maxRetries: 2 },
)
await callWhoami(fetch)
