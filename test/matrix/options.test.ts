import { portcullis as expressPortcullis } from '@portcullis/express'
import fastifyPortcullis from '@portcullis/fastify'
import { tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { gateOptionsFor } from './app-spec.js'

// Bad options are refused by both adapters with the same message (the owner's name aside): both
// validate with core's gateOptionsSchema and parseOptions.

const kit = await tokenKit()
const good = await gateOptionsFor(kit)

const BAD: Array<[string, Record<string, unknown>]> = [
  ['no resource', { resource: undefined }],
  ['a resource with a fragment', { resource: 'https://mcp.example.com/mcp#x' }],
  ['plain http off loopback', { resource: 'http://mcp.example.com/mcp' }],
  ['no authorization server', { authorizationServers: [] }],
  ['an issuer with a query', { authorizationServers: ['https://idp.example.com/?tenant=1'] }],
  ['not a verifier', { verifier: { verify: () => {} } }],
  ['a scope with a space', { scopes: { base: ['notes read'] } }],
  ['offline_access advertised', { scopes: { base: ['offline_access'] } }],
  ['a tiny token limit', { maxTokenLength: 10 }],
  ['a bad CORS origin', { cors: { origin: ['inspector.example'] } }],
  ['a negative max-age', { metadataMaxAge: -1 }],
  ['an unknown option', { tokenLocation: 'query' }],
  ['an unknown routes mode', { routes: 'some' }],
]

/** The message an adapter throws for `options`, with its own name replaced. */
async function refusal(adapter: 'fastify' | 'express', options: Record<string, unknown>): Promise<string> {
  try {
    if (adapter === 'express') {
      expressPortcullis(options as never)
    } else {
      const app = Fastify()
      try {
        await app.register(fastifyPortcullis, options as never)
        await app.ready()
      } finally {
        await app.close()
      }
    }
  } catch (error) {
    return (error as Error).message.replace(`@portcullis/${adapter}`, '<adapter>')
  }
  return 'accepted'
}

for (const [name, change] of BAD) {
  t.test(name, async (t) => {
    const options = { ...good, ...change }
    const fastify = await refusal('fastify', options)
    const express = await refusal('express', options)
    t.match(fastify, /^<adapter>: /, 'refused, naming the adapter')
    t.equal(express, fastify, 'the same message from both adapters')
  })
}

t.test('good options are accepted by both', async (t) => {
  t.equal(await refusal('fastify', good as never), 'accepted')
  t.equal(await refusal('express', good as never), 'accepted')
})
