import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { GateOptions } from '@portcullis/core'
import { portcullis as expressPortcullis } from '@portcullis/express'
import portcullis from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'

// A protected resource with DPoP on each adapter, on 127.0.0.1 (ephemeral port): GET and POST
// /mcp and GET /notes answer who the caller is and the key it proved.

export type Adapter = 'fastify' | 'express'

export interface DpopApp {
  port: number
  close(): Promise<void>
}

const whoami = (auth: { extra?: Record<string, unknown> } | undefined) => ({
  sub: auth?.extra?.sub,
  jkt: auth?.extra?.dpopJkt ?? null,
})

export async function startDpopApp(adapter: Adapter, options: GateOptions): Promise<DpopApp> {
  if (adapter === 'fastify') {
    const app = Fastify()
    await app.register(portcullis, options)
    app.get('/mcp', async (request) => whoami(request.auth))
    app.post('/mcp', async (request) => whoami(request.auth))
    app.get('/notes', async (request) => whoami(request.auth))
    await app.listen({ port: 0, host: '127.0.0.1' })
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
  }
  const app = express()
  app.disable('x-powered-by')
  app.use(expressPortcullis(options))
  app.get('/mcp', (req, res) => {
    res.json(whoami(req.auth))
  })
  app.post('/mcp', (req, res) => {
    res.json(whoami(req.auth))
  })
  app.get('/notes', (req, res) => {
    res.json(whoami(req.auth))
  })
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
