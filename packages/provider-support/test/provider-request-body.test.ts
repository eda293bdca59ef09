import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dropRegisteredScope, MAX_FORM_BYTES, readBoundedBody, readForm } from '@portcullis/provider-support'
import t from 'tap'

/** A server whose handler sees each request; answers with what `handle` returns. */
async function server(
  t: { teardown(fn: () => unknown): void },
  handle: (req: IncomingMessage) => Promise<unknown>,
) {
  const http = createServer(async (req, res) => {
    const answer = await handle(req)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => http.close(resolve)))
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/`
}

t.test('readBoundedBody stops past the limit', async (t) => {
  const url = await server(t, async (req) => {
    const body = await readBoundedBody(req, 10)
    return body === undefined ? 'too large' : body.toString()
  })
  t.equal(await (await fetch(url, { method: 'POST', body: '0123456789' })).json(), '0123456789')
  t.equal(await (await fetch(url, { method: 'POST', body: '0123456789x' })).json(), 'too large')
})

t.test('dropRegisteredScope removes scope and hands the body over again', async (t) => {
  const url = await server(t, async (req) => {
    if (!(await dropRegisteredScope(req))) return 'too large'
    // Read again, as oidc-provider reads bodies (`req.iterator()`).
    const chunks: Buffer[] = []
    for await (const chunk of (req as unknown as { iterator(): AsyncIterable<Buffer> }).iterator())
      chunks.push(chunk)
    return { body: Buffer.concat(chunks).toString(), length: req.headers['content-length'] }
  })
  const post = (body: string, type = 'application/json') =>
    fetch(url, { method: 'POST', body, headers: { 'content-type': type } }).then((r) => r.json())
  const rewritten = (await post(JSON.stringify({ client_name: 'x', scope: 'notes:write' }))) as {
    body: string
    length: string
  }
  t.same(JSON.parse(rewritten.body), { client_name: 'x' }, 'RFC 7591 §2: the requested scope is ignored')
  t.equal(Number(rewritten.length), rewritten.body.length, 'Content-Length matches the new body')
  t.same(
    await post('{not json'),
    { body: '{not json', length: '9' },
    'not JSON: passed on for the provider to refuse',
  )
  t.same(await post('scope=x', 'text/plain'), { body: 'scope=x', length: '7' }, 'not a JSON body: untouched')
  t.equal(await post(JSON.stringify({ pad: 'x'.repeat(60 * 1024) })), 'too large', 'bounded')
})

t.test('readForm: the fields of a page POST, within 8 KiB', async (t) => {
  const url = await server(t, async (req) => {
    const form = await readForm(req)
    return form === undefined ? 'too large' : Object.fromEntries(form)
  })
  const post = (body: string) => fetch(url, { method: 'POST', body }).then((r) => r.json())
  t.same(await post('csrf=a%20b&decision=approve'), { csrf: 'a b', decision: 'approve' })
  t.equal(await post(`pad=${'x'.repeat(MAX_FORM_BYTES)}`), 'too large')
})
