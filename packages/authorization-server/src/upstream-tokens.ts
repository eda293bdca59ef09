import { SingleFlight } from '@portcullis/core/adapter'
import type { TokenVault, UpstreamTokenSet } from './token-vault.js'
import type { UpstreamClient } from './upstream-client.js'

/** One user's upstream tokens, for a tool handler that calls the IdP's APIs on the user's behalf. */
export interface UpstreamTokens {
  /** A current upstream access token, refreshed first when it expires within 30 seconds. */
  accessToken(): Promise<string>
}

/** Seconds before expiry at which an upstream access token is refreshed rather than handed out. */
const EARLY_REFRESH = 30

/** The vault's tokens per account, refreshed on demand (one refresh at a time per account), and revoked. */
export function upstreamTokens(inputs: { vault: TokenVault; upstream: UpstreamClient; ttl: number }) {
  const { vault, upstream, ttl } = inputs
  const refreshes = new SingleFlight<UpstreamTokenSet>()
  const current = async (accountId: string): Promise<UpstreamTokenSet> => {
    const tokens = await vault.get(accountId)
    if (tokens === undefined) throw new Error('no upstream tokens are kept for this user; sign in again')
    const now = Math.floor(Date.now() / 1000)
    if (tokens.expiresAt === undefined || tokens.expiresAt - EARLY_REFRESH > now) return tokens
    if (tokens.refreshToken === undefined) throw new Error('the upstream access token expired; sign in again')
    return refreshes.run(accountId, async () => {
      const fresh = await upstream.refresh(tokens.refreshToken!)
      await vault.put(accountId, fresh, ttl)
      return fresh
    })
  }
  return {
    forAccount(accountId: string): UpstreamTokens {
      return { accessToken: async () => (await current(accountId)).accessToken }
    },
    /** Revokes the account's upstream tokens (refresh token first: RFC 7009 §2.1 revokes its grant) and forgets them. */
    async revoke(accountId: string): Promise<void> {
      const tokens = await vault.get(accountId)
      await vault.delete(accountId)
      if (tokens === undefined) return
      if (tokens.refreshToken !== undefined) await upstream.revoke(tokens.refreshToken, 'refresh_token')
      await upstream.revoke(tokens.accessToken, 'access_token')
    },
  }
}
