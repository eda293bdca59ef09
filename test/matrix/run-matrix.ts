import type { GateOptions } from '@portcullis/core'
import { type TokenKit, tokenKit } from '@portcullis/test-kit'
import type { Test } from 'tap'
import { gateOptionsFor, type MatrixOptions } from './app-spec.js'
import { CASES, type MatrixCase } from './cases.js'
import { CORS_CASES } from './cors-cases.js'
import { METADATA_CASES } from './metadata-cases.js'

/** A request of the matrix, ready to send: tokens already in place. */
export interface MatrixRequest {
  method: string
  path: string
  headers: Record<string, string | string[]>
  body?: string
}

export interface MatrixResponse {
  status: number
  /** As the client read them (`fastify.inject` types a header as possibly a number). */
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** A running app of one adapter, built from the matrix's routes (`ROUTES`) and the given gate options. */
export interface MatrixApp {
  send(request: MatrixRequest): Promise<MatrixResponse>
  close(): Promise<void>
}

/** How an adapter runs the matrix. */
export type MatrixAdapter = (options: GateOptions) => Promise<MatrixApp>

// Headers of the connection, not of the answer.
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding'])

/** Runs every case of the matrix against `adapter`, one app per distinct set of options. */
export async function runMatrix(t: Test, adapter: MatrixAdapter): Promise<void> {
  const kit = await tokenKit()
  const apps = new Map<string, MatrixApp>()
  t.teardown(async () => {
    for (const app of apps.values()) await app.close()
  })
  const appFor = async (options: MatrixOptions | undefined) => {
    const key = JSON.stringify(options ?? {})
    let app = apps.get(key)
    if (app === undefined) {
      app = await adapter(await gateOptionsFor(kit, options))
      apps.set(key, app)
    }
    return app
  }

  for (const entry of [...CASES, ...METADATA_CASES, ...CORS_CASES]) {
    await t.test(entry.name, async (t) => {
      const app = await appFor(entry.options)
      const response = await app.send(await prepare(kit, entry))
      t.same(normalise(response), expected(entry))
    })
  }
}

async function prepare(kit: TokenKit, entry: MatrixCase): Promise<MatrixRequest> {
  const { request } = entry
  const token =
    request.token === undefined
      ? undefined
      : await kit.mint(request.token.claims, {
          ...(request.token.forged === undefined ? {} : { forged: request.token.forged }),
          ...(request.token.typ === undefined ? {} : { typ: request.token.typ }),
        })
  const fill = (text: string) => (token === undefined ? text : text.replaceAll('$TOKEN', token))
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name] = Array.isArray(value) ? value.map(fill) : fill(value)
  }
  return {
    method: request.method,
    path: fill(request.path),
    headers,
    ...(request.body === undefined ? {} : { body: fill(request.body) }),
  }
}

function normalise(response: MatrixResponse) {
  const headers: Record<string, string | string[] | number> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && !TRANSPORT_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value
  }
  let body: unknown = response.body
  if (response.body !== '') {
    try {
      body = JSON.parse(response.body)
    } catch {
      // Not JSON: compared as text.
    }
  }
  return { status: response.status, headers, body }
}

function expected(entry: MatrixCase) {
  const { status, headers, body } = entry.expect
  const length = body === '' ? '0' : String(Buffer.byteLength(JSON.stringify(body)))
  return { status, headers: { 'content-length': length, ...headers }, body }
}
