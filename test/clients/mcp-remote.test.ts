// mcp-remote (the stdio ↔ Streamable HTTP bridge desktop clients use) against the notes server and
// the dev IdP. It is driven over stdio by the 1.x SDK client, as a desktop client would; the
// browser it asks for is a stand-in that reads the authorization URL it prints, follows it through
// the IdP (signing in as alice, whose role allows notes:write) and opens its callback.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { completeAuthorization } from '@portcullis/dev-idp'
import t from 'tap'
import { freePort, notesEndpoint, startJourneyIdp } from '../fixtures/journey-stack.js'
import { installedVersion, packageDir, recordRow } from './client-stack.js'

const structured = (result: unknown) =>
  (result as { structuredContent?: Record<string, unknown> }).structuredContent

t.test('mcp-remote over stdio: first contact, tool calls, step-up', async (t) => {
  const version = installedVersion('mcp-remote')
  const idp = await startJourneyIdp(t, { defaultUser: 'alice' })
  const notes = await notesEndpoint(t, idp)
  const config = mkdtempSync(join(tmpdir(), 'portcullis-mcp-remote-'))
  t.teardown(() => rmSync(config, { recursive: true, force: true }))

  const stderr: string[] = []
  const opened: URL[] = []
  let handled = 0
  // The stand-in browser: each authorization URL mcp-remote prints is followed to its callback.
  const browse = async () => {
    const urls = [...stderr.join('').matchAll(/visiting:\s*\n(\S+)/g)].map((m) => m[1]!)
    for (const url of urls.slice(handled)) {
      handled++
      opened.push(new URL(url))
      const answer = await completeAuthorization(url)
      // mcp-remote may print the URL before its callback server listens again (a person takes
      // seconds to sign in): try the callback for a while, as a browser's reload would.
      for (let attempt = 0; ; attempt++) {
        try {
          const callback = await fetch(answer.url)
          await callback.body?.cancel()
          break
        } catch (error) {
          if (attempt >= 100) throw error
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
    }
  }

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(packageDir('mcp-remote'), 'dist/proxy.js'), notes.resource, String(await freePort())],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: config,
      MCP_REMOTE_CONFIG_DIR: config,
      // No browser to open: mcp-remote then prints the URL for a person to copy, which the stand-in reads.
      BROWSER: 'false',
      DISPLAY: '',
    },
    stderr: 'pipe',
  })
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString())
    browse().catch((error) => stderr.push(`stand-in browser failed: ${error}\n`))
  })
  const client = new Client({ name: 'desktop', version: '1.0.0' })
  t.teardown(() => client.close())
  await client.connect(transport)

  t.equal(opened.length, 1, 'one authorization on first contact')
  t.equal(opened[0]!.searchParams.get('resource'), notes.resource, 'it names the resource (RFC 8707)')
  t.equal(
    opened[0]!.searchParams.get('scope')?.split(' ').includes('notes:read'),
    true,
    'asks for notes:read',
  )
  const tools = (await client.listTools()).tools.map((tool) => tool.name).sort()
  t.same(tools, ['add_note', 'clear_notes', 'list_notes', 'whoami'], 'every tool listed to notes:read')
  t.match(structured(await client.callTool({ name: 'whoami', arguments: {} })), {
    sub: 'alice',
    scopes: ['notes:read'],
  })

  // add_note needs notes:write: mcp-remote gets the 403, re-authorizes and retries.
  const added = await client
    .callTool({ name: 'add_note', arguments: { text: 'over stdio' } }, undefined, { timeout: 40_000 })
    .then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    )
  const stepUps = opened.slice(1)
  const stepUpScopes = stepUps.map((url) => url.searchParams.get('scope') ?? '')
  let stepUp: string
  let on403: string
  if ('result' in added && added.result.isError !== true) {
    t.match(structured(added.result), { note: { text: 'over stdio' } }, 'the retried call succeeds')
    t.ok(stepUps.length >= 1, 'it re-authorized')
    t.ok(stepUpScopes.at(-1)!.split(' ').includes('notes:write'), 'asking for notes:write')
    const union = stepUpScopes.at(-1)!.split(' ').includes('notes:read')
    stepUp = `passes: re-authorizes for ${union ? 'the union of scopes' : 'the challenged scope'} and retries the call`
    on403 = `re-authorizes (scope "${stepUpScopes.at(-1)}") and retries`
  } else {
    // Recorded as observed, and failed: the matrix must not claim what the client did not do.
    t.fail(`add_note after a 403: ${JSON.stringify('error' in added ? String(added.error) : added.result)}`, {
      diagnostic: true,
      stderr: stderr.join('').slice(-6000),
    })
    stepUp = 'fails'
    on403 = `gives up: ${'error' in added ? String(added.error).slice(0, 80) : 'tool error'}`
  }
  t.match(structured(await client.callTool({ name: 'whoami', arguments: {} })), { sub: 'alice' })

  recordRow('mcp-remote', {
    client: 'mcp-remote (stdio bridge)',
    version,
    firstContact: 'passes: DCR, browser sign-in, PKCE, token for the resource',
    stepUp,
    refresh: 'not exercised (no token expiry in this test)',
    on403,
  })
})
