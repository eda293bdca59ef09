import { generateKeyPairSync, sign } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type GateOptions, jwtVerifier } from '@portcullis/core'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'

// What the review's regression tests (preflights, path forms, MCP methods, sessions) build their
// apps from: one issuer with a static ES256 key, tokens minted on the spot, and listening helpers
// for both adapters on 127.0.0.1 (ephemeral ports).

export const ISSUER = 'https://id.review.test'
export const RESOURCE = 'https://mcp.review.test/mcp'

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')

/** The claims of a valid access token of ISSUER for RESOURCE (alice, notes-app, notes:read), with `claims` on top. */
export function accessTokenClaims(claims: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'alice',
    client_id: 'notes-app',
    scope: 'notes:read',
    iat: now,
    exp: now + 600,
    ...claims,
  }
}

/** A valid access token for RESOURCE, signed with the review key: `accessTokenClaims(claims)`. */
export function mintToken(claims: Record<string, unknown> = {}): string {
  const input = `${b64(JSON.stringify({ alg: 'ES256', kid: 'review', typ: 'at+jwt' }))}.${b64(
    JSON.stringify(accessTokenClaims(claims)),
  )}`
  return `${input}.${b64(sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }))}`
}

/** Gate options for RESOURCE with a fresh verifier. */
export function reviewGateOptions(extra: Partial<GateOptions> = {}): GateOptions {
  return {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [{ key: publicKey, alg: 'ES256', kid: 'review' }],
    }),
    ...extra,
  }
}

/** Starts an Express app on 127.0.0.1; closed when `t` ends. */
export async function listenExpress(
  t: Test,
  app: { listen(port: number, host: string, done: () => void): Server },
): Promise<number> {
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
  })
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as AddressInfo).port
}

/** Starts a Fastify app on 127.0.0.1; closed when `t` ends. */
export async function listenFastify(t: Test, app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return (app.server.address() as AddressInfo).port
}
