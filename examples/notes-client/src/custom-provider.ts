// A token provider of your own: here, tokens a sidecar writes to a file (a workload identity
// agent, a vault agent). authFetch adds the rest: one renewal at a time, renewal before expiry
// and after a 401, the header, the retries.
import { readFile } from 'node:fs/promises'
import { type AccessToken, authFetch, type TokenProvider } from '@portcullis/client'
import { callWhoami } from './call-whoami.js'
import { required } from './settings.js'

const path = required(
  'TOKEN_JSON',
  'a file holding a token response: {"access_token", "expires_in", "scope"}',
)

async function readToken(): Promise<AccessToken> {
  const answer = JSON.parse(await readFile(path, 'utf8')) as {
    access_token: string
    expires_in?: number
    scope?: string
  }
  const { mtimeMs } = await import('node:fs').then((fs) => fs.statSync(path))
  return {
    token: answer.access_token,
    tokenType: 'Bearer',
    ...(answer.expires_in === undefined ? {} : { expiresAt: Math.floor(mtimeMs / 1000) + answer.expires_in }),
    scopes: answer.scope?.split(' ') ?? [],
  }
}

const sidecar: TokenProvider = {
  getToken: readToken,
  // The sidecar rotates the file; a renewal reads it again.
  refreshToken: () => readToken(),
}
await callWhoami(authFetch(sidecar))
