// A grant a user gave once (a CLI, a daemon): the refresh token from the first sign-in, then the
// rotated ones, kept in the token file. The seed is used once; later runs need no REFRESH_TOKEN.
import { authFetch, fileTokenStore, refreshToken, TokenRequestError } from '@portcullis/client'
import { callWhoami } from './call-whoami.js'
import { ISSUER, MCP_URL, TOKEN_FILE } from './settings.js'

const fetch = authFetch(
  refreshToken({
    issuer: ISSUER,
    clientId: process.env.CLIENT_ID ?? 'dev-public',
    ...(process.env.REFRESH_TOKEN ? { refreshToken: process.env.REFRESH_TOKEN } : {}),
    resource: MCP_URL,
  }),
  { store: fileTokenStore(TOKEN_FILE) },
)
try {
  await callWhoami(fetch)
} catch (error) {
  // invalid_grant: the grant was revoked or expired and has been cleared from the file.
  if (error instanceof TokenRequestError && error.kind === 'invalid_grant') {
    console.error(`${error.message}\nRun again with REFRESH_TOKEN set to a new grant's refresh token.`)
    process.exit(1)
  }
  throw error
}
