// Client ID Metadata Documents: an https URL as client_id, fetched under SSRF limits (loopback
// allowed for development; private addresses, redirects, huge and slow documents refused).
// The TLS fixture is a self-signed certificate for localhost, 127.0.0.1 and ::1, made with
// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 36500 -addext
// "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" -addext basicConstraints=critical,CA:TRUE`.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { completeAuthorization, createPkce, startDevIdp } from '@portcullis/dev-idp'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { addressProblem } from '../src/outbound-fetch.js'
import { getJson, postForm } from './fixtures/http.js'

const RESOURCE = 'http://127.0.0.1:3000/mcp'
const REDIRECT = 'http://127.0.0.1:8123/callback'
const CERT = readFileSync(new URL('./fixtures/loopback-tls-cert.pem', import.meta.url), 'utf8')
const KEY = readFileSync(new URL('./fixtures/loopback-tls-key.pem', import.meta.url), 'utf8')

/** An https server on loopback serving client metadata documents, counting requests per path. */
async function documentHost(t: Test) {
  const hits = new Map<string, number>()
  let origin = ''
  const document = (path: string, extra: Record<string, unknown> = {}) => ({
    client_id: `${origin}${path}`,
    client_name: 'CIMD test client',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    ...extra,
  })
  const server = createServer({ cert: CERT, key: KEY }, (req, res) => {
    const path = req.url ?? '/'
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (path === '/good') return json(document(path))
    if (path === '/liar') return json(document('/good'))
    if (path === '/huge') return json(document(path, { padding: 'x'.repeat(10_000) }))
    if (path === '/slow') return void setTimeout(() => json(document(path)), 3000).unref()
    if (path === '/redirect') {
      res.writeHead(302, { location: `${origin}/good` })
      return res.end()
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return { origin, hits }
}

function authorizationUrl(
  idp: { endpoints: { authorization: string } },
  clientId: string,
  challenge: string,
) {
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'notes:read',
    resource: RESOURCE,
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    login_hint: 'bob',
  }).toString()
  return url
}

t.test('a client whose id is its metadata document URL signs in (loopback, development)', async (t) => {
  const host = await documentHost(t)
  const idp = await startDevIdp({
    resources: [{ resource: RESOURCE }],
    clientIdMetadataDocuments: { ca: CERT },
  })
  t.teardown(idp.close)
  t.equal(idp.clientIdMetadataDocuments, true)
  const metadata = await getJson(idp.metadataUrl!)
  t.equal(metadata.body?.client_id_metadata_document_supported, true)

  const clientId = `${host.origin}/good`
  const pkce = createPkce()
  const answer = await completeAuthorization(authorizationUrl(idp, clientId, pkce.challenge), {
    redirectUri: REDIRECT,
  })
  t.type(answer.code, 'string')
  const token = await postForm(idp.endpoints.token, {
    grant_type: 'authorization_code',
    code: answer.code!,
    redirect_uri: REDIRECT,
    code_verifier: pkce.verifier,
    client_id: clientId,
  })
  t.equal(token.status, 200)
  t.equal(decodeJwt(token.body?.access_token).client_id, clientId)
})

t.test('documents that lie, redirect, are huge or slow are refused; nothing is issued', async (t) => {
  const host = await documentHost(t)
  const idp = await startDevIdp({
    resources: [{ resource: RESOURCE }],
    clientIdMetadataDocuments: { ca: CERT, timeoutMs: 1000, maxBytes: 4096 },
  })
  t.teardown(idp.close)
  for (const path of ['/liar', '/redirect', '/huge', '/slow']) {
    const started = Date.now()
    const response = await fetch(authorizationUrl(idp, `${host.origin}${path}`, createPkce().challenge), {
      redirect: 'manual',
    })
    const page = await response.text()
    t.equal(response.status, 400, `${path}: refused`)
    t.match(page, /invalid_client/, `${path}: invalid_client`)
    t.notOk(response.headers.get('location'), `${path}: never redirected to the client`)
    t.ok(Date.now() - started < 2900, `${path}: answered before the document would arrive`)
  }
  t.equal(host.hits.get('/good'), undefined, 'the redirect was not followed')
})

t.test('private and special-use addresses are never fetched; loopback only when allowed', async (t) => {
  const host = await documentHost(t)
  const idp = await startDevIdp({
    resources: [{ resource: RESOURCE }],
    clientIdMetadataDocuments: { ca: CERT, allowLoopback: false },
  })
  t.teardown(idp.close)
  const port = new URL(host.origin).port
  for (const clientId of [
    `${host.origin}/good`,
    `https://localhost:${port}/good`,
    'https://10.0.0.1/client',
    'https://169.254.169.254/latest/meta-data',
    'https://[::ffff:192.168.0.1]/client',
  ]) {
    const response = await fetch(authorizationUrl(idp, clientId, createPkce().challenge), {
      redirect: 'manual',
    })
    await response.body?.cancel()
    t.equal(response.status, 400, `${clientId}: refused`)
  }
  t.equal(host.hits.get('/good'), undefined, 'no request reached the loopback host')

  const policy = { allowLoopback: true, allowPrivateNetworks: false, maxBytes: 1, timeoutMs: 1, ca: [] }
  for (const address of [
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
  ]) {
    t.match(addressProblem(address, policy), /private or special-use/, address)
  }
  for (const address of ['::ffff:10.0.0.1', 'fe80::1', 'fd00::1', '::', 'ff02::1']) {
    t.match(addressProblem(address, policy), /private or special-use/, address)
  }
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '8.8.8.8', '2606:4700::1111']) {
    t.equal(addressProblem(address, policy), undefined, `${address} allowed`)
  }
  t.match(addressProblem('127.0.0.1', { ...policy, allowLoopback: false }), /loopback/)
  t.equal(addressProblem('10.1.2.3', { ...policy, allowPrivateNetworks: true }), undefined)
})

t.test('clientIdMetadataDocuments: false turns them off', async (t) => {
  const idp = await startDevIdp({ resources: [{ resource: RESOURCE }], clientIdMetadataDocuments: false })
  t.teardown(idp.close)
  const metadata = await getJson(idp.metadataUrl!)
  t.equal(metadata.body?.client_id_metadata_document_supported, undefined)
  t.type(metadata.body?.registration_endpoint, 'string', 'registration stays')
})
