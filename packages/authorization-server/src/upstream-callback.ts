import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AllowedScopes } from './allowed-scopes.js'
import { csrfTokenMatches } from './consent-page.js'
import {
  type InteractionContext,
  STATE_COOKIE,
  sendPage,
  UPSTREAM_TTL,
  type UpstreamResult,
  type UpstreamTransaction,
} from './interactions.js'
import { type AccountRecord, MODELS } from './provider-configuration.js'
import type { TokenVault } from './token-vault.js'

export interface CallbackContext extends InteractionContext {
  allowedScopes: AllowedScopes
  vault: TokenVault
  /** Seconds the account record and vaulted tokens are kept. */
  accountTtl: number
  log: (message: string) => void
}

/**
 * The upstream redirect URI. The `state` must match the cookie set when the user was sent upstream
 * (same browser) and a transaction not yet used (one use); openid-client then checks the response
 * (RFC 9207 `iss`, state) and redeems the code with the PKCE verifier, checking the ID token's
 * signature, audience and nonce. The outcome is left for the interaction, which the browser is sent
 * back to; on a refused callback nothing is issued and the transaction is spent.
 */
export async function handleUpstreamCallback(
  context: CallbackContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: string,
): Promise<void> {
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET')
    return sendPage(res, 405, 'Method not allowed', { problem: 'the upstream callback takes GET only' })
  }
  const params = new URLSearchParams(query)
  const state = params.get('state')
  const cookieState = readCookie(req, STATE_COOKIE)
  // RFC 6749 §10.12: a callback this browser did not start is a login CSRF attempt.
  if (state === null || cookieState === undefined || !csrfTokenMatches(cookieState, state)) {
    return sendPage(res, 400, 'Sign-in response refused', {
      problem: 'the state of the identity provider’s response does not match this browser’s sign-in request',
      next: 'start again from the client application',
    })
  }
  const transactions = context.adapter(MODELS.upstreamTransaction)
  const transaction = (await transactions.find(state)) as UpstreamTransaction | undefined
  await transactions.destroy(state)
  if (transaction === undefined) {
    return sendPage(res, 400, 'Sign-in response refused', {
      problem: 'this sign-in response was already used, or has expired',
      next: 'start again from the client application',
    })
  }
  let result: UpstreamResult
  try {
    const signIn = await context.upstream.finish(query, transaction.checks)
    const allowedScopes = await context.allowedScopes(signIn)
    const account: AccountRecord = { claims: signIn.claims, allowedScopes }
    await context.adapter(MODELS.account).upsert(signIn.subject, { ...account }, context.accountTtl)
    await context.vault.put(signIn.subject, signIn.tokens, context.accountTtl)
    result = { accountId: signIn.subject }
  } catch (error) {
    const upstreamError = (error as { error?: unknown }).error
    context.log(`upstream sign-in failed: ${(error as Error).message}`)
    result = clientError(upstreamError)
  }
  await context.adapter(MODELS.upstreamResult).upsert(transaction.uid, { ...result }, UPSTREAM_TTL)
  res.writeHead(303, {
    Location: `/interaction/${transaction.uid}`,
    'Set-Cookie': `${STATE_COOKIE}=; Path=${context.callbackPath}; Max-Age=0; HttpOnly; SameSite=Lax`,
    'Cache-Control': 'no-store',
  })
  res.end()
}

/**
 * What the MCP client is told when sign-in upstream did not succeed (RFC 6749 §4.1.2.1). Only the
 * two codes that mean the same to the client are passed on; anything else (a bad response, a
 * failed check, an error about the broker's own request) is the broker's `server_error`. The
 * upstream's `error_description` is never passed on: the client did not talk to the upstream.
 * openid-client reports an error response only after its `state` and RFC 9207 `iss` checks passed.
 */
function clientError(upstreamError: unknown): { error: string; error_description: string } {
  if (upstreamError === 'access_denied')
    return { error: 'access_denied', error_description: 'sign-in was refused at the identity provider' }
  if (upstreamError === 'temporarily_unavailable')
    return {
      error: 'temporarily_unavailable',
      error_description: 'the identity provider is temporarily unavailable',
    }
  return { error: 'server_error', error_description: 'sign-in at the identity provider failed' }
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
