// The `/interaction/<uid>` route oidc-provider hands its login and consent steps to: find the
// interaction of this browser, let the host run its step, answer what no step expects.
// Typed structurally, generic in oidc-provider's own types: the published declarations import
// nothing from oidc-provider (its types pull in @types/koa, which breaks a consumer's type check).
import type { IncomingMessage, ServerResponse } from 'node:http'

/** The part of oidc-provider's `Provider` that finds an interaction. */
export interface InteractionProvider<Details extends { uid: string; prompt: { name: string } }> {
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Details>
}

/** What a provider's `interactionDetails` resolves to, e.g. `InteractionDetailsOf<Provider>`. */
export type InteractionDetailsOf<P extends { interactionDetails(...args: never[]): Promise<unknown> }> =
  Awaited<ReturnType<P['interactionDetails']>>

/** Answers with one of the host's pages: a title and named lines of text. */
export type SendPage = (
  res: ServerResponse,
  status: number,
  title: string,
  lines: Record<string, string>,
) => void

const PATH = /^\/interaction\/([A-Za-z0-9_-]{1,128})$/

/**
 * Routes `path` when it is an interaction route (returns false otherwise). The interaction is the
 * one this browser's cookie names; when there is none (expired, or started in another browser) or
 * it is not the one in the path, the user gets a 400 page and `step` never runs. `step` returns
 * false when the request is not one its interaction's prompt expects: that is a 405 page.
 */
export async function routeInteraction<Details extends { uid: string; prompt: { name: string } }>(
  provider: InteractionProvider<Details>,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  sendPage: SendPage,
  step: (details: Details) => Promise<boolean>,
): Promise<boolean> {
  const match = PATH.exec(path)
  if (match === null) return false
  let details: Details
  try {
    details = await provider.interactionDetails(req, res)
  } catch (error) {
    if ((error as { name?: string }).name !== 'SessionNotFound') throw error
    sendPage(res, 400, 'Sign-in request not found', {
      problem:
        'this sign-in request has expired, or its cookie is missing (was it started in another browser?)',
      next: 'start again from the client application',
    })
    return true
  }
  if (details.uid !== match[1]) {
    sendPage(res, 400, 'Sign-in request mismatch', {
      problem: 'the cookie belongs to another sign-in request',
    })
    return true
  }
  if (await step(details)) return true
  res.setHeader('Allow', 'GET, POST')
  sendPage(res, 405, 'Unexpected request', {
    problem: `${req.method} is not expected for the "${details.prompt.name}" step`,
  })
  return true
}

/**
 * Hands a step's outcome back to oidc-provider, which redirects the browser on to the
 * authorization endpoint. Merged with what earlier steps of the same interaction submitted.
 */
export function finishInteraction<Result>(
  provider: {
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Result,
      options: { mergeWithLastSubmission: boolean },
    ): Promise<void>
  },
  req: IncomingMessage,
  res: ServerResponse,
  result: Result,
): Promise<void> {
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true })
}
