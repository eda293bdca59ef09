// @modelcontextprotocol/conformance against the broker example, the dev IdP upstream with
// registration off. Version 0.1.16 tests MCP clients (`client`, against its own mock
// authorization server) and MCP servers (`server`, unauthenticated): it has no mode that drives an
// authorization server. What applies here is its server scenarios, run against the MCP endpoint the
// broker protects, with a token the broker issued through the full sign-in (DCR at the broker,
// upstream sign-in, consent) carried by a forwarding proxy, since the tool sends no credentials.

import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { type ClientRequest, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { startBrokerStack } from './fixtures/broker-stack.js'
import { HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { signInV2 } from './fixtures/sdk-clients.js'

const CLI = fileURLToPath(
  new URL('./node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url),
)
const NODE20 = fileURLToPath(new URL('./fixtures/conformance/register.mjs', import.meta.url))

// The server scenarios a notes server can answer. The 26 others call the conformance reference
// server's own tools, prompts, resources, completion and logging (`Method not found` / `Tool … not
// found` here); dns-rebinding-protection sends forged Host headers, which the proxy below rewrites,
// so it would prove nothing. server-sse-polling records no success (the example does not use SSE
// polling) and server-sse-multiple-streams passes but takes too long for the per-file limit.
const SCENARIOS = ['server-initialize', 'ping', 'tools-list']

interface Check {
  id: string
  status: string
  errorMessage?: string
}

function runConformance(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', NODE20, CLI, ...args],
      { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, output: `${stdout}${stderr}` })
      },
    )
  })
}

async function checksIn(dir: string): Promise<Check[]> {
  const found: Check[] = []
  for (const entry of await readdir(dir, { recursive: true })) {
    if (String(entry).endsWith('checks.json')) {
      found.push(...(JSON.parse(await readFile(join(dir, String(entry)), 'utf8')) as Check[]))
    }
  }
  return found
}

t.test('MCP conformance server scenarios through the broker (upstream without DCR)', async (t) => {
  const stack = await startBrokerStack(t)
  t.equal(stack.idp.registration, false, 'the upstream has no dynamic registration')

  const browser = new BrokerBrowser()
  const provider = new HeadlessOAuthProvider({
    user: 'alice',
    clientName: 'conformance',
    browser: (url, options) => browser.authorize(url, options),
  })
  const { client } = await signInV2(stack.url, provider, fetch, 'modern')
  await client.close()
  const token = provider.tokens()?.access_token as string
  t.ok(token, 'a broker-issued access token')

  // Without the token the endpoint refuses, as the broker's resource server must (RFC 6750 §3).
  const bare = await runConformance(['server', '--url', stack.url.href, '--scenario', 'server-initialize'])
  t.not(bare.code, 0, 'without a token the conformance client is refused')

  const target = new URL(stack.url)
  // Open streams (the SDK's GET stream) would keep the MCP server from closing: ended at teardown.
  const open = new Set<ClientRequest>()
  const proxy = createServer((req, res) => {
    const forwarded = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host, authorization: `Bearer ${token}` },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    open.add(forwarded)
    forwarded.on('close', () => open.delete(forwarded))
    forwarded.on('error', () => res.destroy())
    req.pipe(forwarded)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const forwarded of open) forwarded.destroy()
    proxy.closeAllConnections()
    proxy.close()
  })
  const proxied = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${target.pathname}`

  const dir = await mkdtemp(join(tmpdir(), 'conformance-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const scenario of SCENARIOS) {
    const out = join(dir, scenario)
    const run = await runConformance(['server', '--url', proxied, '--scenario', scenario, '-o', out])
    const checks = await checksIn(out)
    const failed = checks.filter((c) => c.status === 'FAILURE')
    t.ok(
      checks.some((c) => c.status === 'SUCCESS'),
      `${scenario}: a check succeeded`,
    )
    t.same(failed, [], `${scenario}: no failed check`)
    t.equal(run.code, 0, `${scenario}: the conformance run passes`)
    if (run.code !== 0 || failed.length > 0) t.comment(run.output)
  }
})
