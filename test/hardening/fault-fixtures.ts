import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { GateOptions, RejectionLog } from '@portcullis/core'
import { portcullis as expressPortcullis, verifiedAuth } from '@portcullis/express'
import portcullis from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'
import { CompactSign } from 'jose'
import type { SigningKey } from './token-forge.js'

// Real sockets, real timing: upstream servers (key set, introspection endpoint) whose behaviour a
// test switches while the protected app runs, and that app on either adapter.

export const RESOURCE = 'https://mcp.example.test/mcp'

/** What an upstream does with a request: answer, wait then answer, or drop the connection. */
export type Behaviour = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

export interface Upstream {
  url: string
  port: number
  /** Requests received so far. */
  hits: number
  behave(behaviour: Behaviour): void
  close(): Promise<void>
}

/** A loopback server whose behaviour can be switched at any time; on `port` when given. */
export async function startUpstream(behaviour: Behaviour, port = 0): Promise<Upstream> {
  let current = behaviour
  const upstream = { hits: 0 } as Upstream
  const server: Server = createServer((req, res) => {
    upstream.hits++
    Promise.resolve(current(req, res)).catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const bound = (server.address() as AddressInfo).port
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    behave: (next: Behaviour) => {
      current = next
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  })
}

export const json =
  (body: unknown, status = 200, headers: Record<string, string> = {}): Behaviour =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }

/** Resets the connection without answering: the upstream is down. */
export const dropConnection: Behaviour = (req) => {
  req.socket.destroy()
}

/** Answers after `ms`, unless the client has gone by then. */
export const slow =
  (ms: number, then: Behaviour): Behaviour =>
  async (req, res) => {
    await sleep(ms)
    if (!res.destroyed && !req.socket.destroyed) await then(req, res)
  }

/** Signs an access token for RESOURCE from `issuer` with `key` (jose). */
export function mint(key: SigningKey, issuer: string, claims: Record<string, unknown> = {}, kid = key.kid) {
  const now = Math.floor(Date.now() / 1000)
  const payload = {
    iss: issuer,
    aud: RESOURCE,
    sub: 'alice',
    client_id: 'notes-client',
    scope: 'notes:read',
    iat: now,
    exp: now + 300,
    jti: crypto.randomUUID(),
    ...claims,
  }
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: key.alg, kid, typ: 'at+jwt' })
    .sign(key.privateKey)
}

export type Adapter = 'fastify' | 'express'

export interface FaultApp {
  url: string
  /** Log lines (Fastify: pino JSON; Express: rejection reports as JSON). */
  logs: string[]
  close(): Promise<void>
}

/** A protected `GET /notes` behind the gate, on a real socket. */
export async function startFaultApp(adapter: Adapter, options: GateOptions): Promise<FaultApp> {
  const logs: string[] = []
  if (adapter === 'fastify') {
    const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
    await app.register(portcullis, options)
    app.get('/notes', async (request) => ({ sub: request.auth.extra.sub }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      logs,
      close: () => app.close(),
    }
  }
  const app = express()
  app.use(
    expressPortcullis({ ...options, onRejection: (event: RejectionLog) => logs.push(JSON.stringify(event)) }),
  )
  app.get('/notes', (req, res) => {
    res.json({ sub: verifiedAuth(req).extra.sub })
  })
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logs,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

export interface Answer {
  status: number
  retryAfter: string | null
  challenge: string | null
  body: string
  ms: number
}

/** GET /notes with a bearer token, timed. */
export async function getNotes(app: FaultApp, token: string): Promise<Answer> {
  const started = performance.now()
  const response = await fetch(`${app.url}/notes`, { headers: { authorization: `Bearer ${token}` } })
  const body = await response.text()
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    challenge: response.headers.get('www-authenticate'),
    body,
    ms: performance.now() - started,
  }
}

/** Polls `check` every 50 ms until it holds or `ms` pass; returns whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return true
    await sleep(50)
  }
  return check()
}
