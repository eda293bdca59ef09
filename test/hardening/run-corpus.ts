import { parseChallenges } from '@portcullis/core'
import type { Test } from 'tap'
import { CORPUS, type CorpusBody, type CorpusCase } from './corpus.js'
import type { CorpusApp } from './corpus-apps.js'
import { METADATA_URL, type startHardeningStack } from './hardening-stack.js'
import { type RawRequest, type RawResponse, rawExchange, single } from './raw-http.js'
import { forgeToken } from './token-forge.js'

type Stack = Awaited<ReturnType<typeof startHardeningStack>>

/** What the corpus run measured on one adapter. */
export interface CorpusTally {
  cases: number
  /** Answers with status 500 or any other 5xx that was not expected (must be 0). */
  serverErrors: number
  /** Answers 2xx to a request the case expects refused (must be 0). */
  invalidAccepted: number
  byStatus: Record<number, number>
}

/** Runs every corpus case against `app` over a real socket and checks the invariants of every answer. */
export async function runCorpus(t: Test, stack: Stack, app: CorpusApp): Promise<CorpusTally> {
  const tally: CorpusTally = { cases: 0, serverErrors: 0, invalidAccepted: 0, byStatus: {} }
  const tokens: string[] = []
  const names = new Set<string>()
  const attackerHitsBefore = stack.attacker.total()

  for (const entry of CORPUS) {
    t.notOk(names.has(entry.name), `case names are unique: ${entry.name}`)
    names.add(entry.name)
    await t.test(entry.name, async (t) => {
      const token =
        entry.request.token === undefined ? undefined : await forgeToken(entry.request.token, stack.forge)
      if (token !== undefined) tokens.push(token)
      const runsBefore = new Map(app.runs)
      const response = await rawExchange(app.port, toRawRequest(entry, token))
      tally.cases++
      tally.byStatus[response.status] = (tally.byStatus[response.status] ?? 0) + 1
      const expected = entry.expect
      if (response.status >= 500 && response.status !== expected.status) tally.serverErrors++
      if (response.status < 300 && expected.status >= 300) tally.invalidAccepted++

      t.equal(response.status, expected.status, 'status')
      if (expected.because !== undefined) {
        t.match(parseBody(response).error_description, expected.because, 'refused for the expected reason')
      }
      checkChallenge(t, response, expected.challenge)
      if (response.status === 503) t.match(single(response, 'retry-after'), /^[1-9][0-9]*$/, 'Retry-After')
      if (token !== undefined && token.length >= 16) {
        t.notOk(response.body.includes(token), 'the body does not echo the token')
        t.notOk(
          [...response.headers.values()].flat().some((v) => v.includes(token)),
          'no header echoes the token',
        )
      }
      for (const tool of entry.mustNotRun ?? []) {
        t.equal(app.runs.get(tool) ?? 0, runsBefore.get(tool) ?? 0, `tool ${tool} did not run`)
      }
    })
  }

  await t.test('across the corpus', async (t) => {
    t.ok(tally.cases >= 80, `at least 80 cases (${tally.cases})`)
    t.equal(tally.serverErrors, 0, 'no 500 (or unexpected 5xx)')
    t.equal(tally.invalidAccepted, 0, 'no invalid token or request accepted')
    t.equal(
      stack.attacker.total() - attackerHitsBefore,
      0,
      'jku, x5u, jwk and foreign iss made no outbound request',
    )
    const log = app.logs.join('\n')
    const leaked = tokens.filter((token) => token.length >= 16 && log.includes(token))
    t.equal(leaked.length, 0, 'no token appears in the logs')
    t.comment(
      `${app.adapter}: ${tally.cases} cases, ${tally.serverErrors} server errors, ${tally.invalidAccepted} invalid accepted, statuses ${JSON.stringify(tally.byStatus)}`,
    )
  })
  return tally
}

function toRawRequest(entry: CorpusCase, token: string | undefined): RawRequest {
  const fill = (text: string) => (token === undefined ? text : text.replaceAll('$TOKEN', token))
  const { request } = entry
  const headers: Array<[string, string]> = (request.headers ?? []).map(([name, value]) => [name, fill(value)])
  const body = request.body === undefined ? undefined : encodeBody(request.body, fill)
  if (body !== undefined) headers.push(['Content-Type', body.type])
  const query = request.query === undefined ? '' : `?${fill(request.query)}`
  return {
    method: request.method ?? 'GET',
    path: `${request.path ?? '/notes'}${query}`,
    headers,
    ...(body === undefined ? {} : { body: body.bytes }),
  }
}

function encodeBody(body: CorpusBody, fill: (text: string) => string): { type: string; bytes: string } {
  if ('json' in body) return { type: 'application/json', bytes: fill(JSON.stringify(body.json)) }
  if ('form' in body) {
    const form = new URLSearchParams()
    for (const [name, value] of Object.entries(body.form)) form.set(name, fill(value))
    return { type: 'application/x-www-form-urlencoded', bytes: form.toString() }
  }
  return { type: body.type, bytes: fill(body.text) }
}

function parseBody(response: RawResponse): { error_description?: unknown } {
  try {
    return JSON.parse(response.body.toString('utf8'))
  } catch {
    return {}
  }
}

function checkChallenge(t: Test, response: RawResponse, expected: CorpusCase['expect']['challenge']): void {
  const values = response.headers.get('www-authenticate')
  if (expected === null) {
    t.equal(values, undefined, 'no WWW-Authenticate')
    return
  }
  t.equal(values?.length, 1, 'one WWW-Authenticate header')
  const challenges = parseChallenges(values?.[0] ?? '')
  t.equal(challenges.length, 1, 'one challenge')
  const [challenge] = challenges
  t.equal(challenge?.scheme, 'Bearer')
  const params = challenge?.params ?? {}
  t.equal(params.resource_metadata, METADATA_URL, 'resource_metadata')
  t.equal(params.error, expected.error, 'error')
  if (expected.error === undefined) t.equal(params.error_description, undefined, 'no error_description')
  else t.type(params.error_description, 'string', 'error_description')
  t.equal(params.scope, expected.scope, 'scope')
  const known = new Set(['error', 'error_description', 'scope', 'resource_metadata'])
  t.same(
    Object.keys(params).filter((name) => !known.has(name)),
    [],
    'no other parameters',
  )
}
