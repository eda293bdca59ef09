import { startDevIdp } from '@portcullis/dev-idp'
import type { Page } from 'playwright-core'
import t from 'tap'
import { startNotesEndpoint } from '../fixtures/journey-stack.js'
import { launchChromium } from './chromium.js'
import { installedVersion, recordRow } from './client-stack.js'
import { runTool, startInspectorWeb, waitUntilReconnected } from './inspector-web.js'

const idp = await startDevIdp({ resources: [], login: 'form' })
t.teardown(() => idp.close())
const notes = await startNotesEndpoint(idp)
t.teardown(() => notes.close())

const { onPage } = await launchChromium(t)

t.test(
  'a page on another origin fetches the metadata with the headers browser MCP clients send',
  async (t) => {
    const metadataPaths = [notes.metadataUrl]
    await onPage('cors', async (page) => {
      // Any page of another origin: the IdP's discovery document is one (another port).
      await page.goto(`${idp.issuer}/.well-known/openid-configuration`)
      for (const url of metadataPaths) {
        for (const headers of [
          { 'MCP-Protocol-Version': '2025-11-25' },
          { 'MCP-Protocol-Version': '2025-06-18', 'Content-Type': 'application/json' },
          { 'MCP-Protocol-Version': '2026-07-28', 'X-Custom-Header': 'set through requestInit' },
        ] as Record<string, string>[]) {
          const answer = await page.evaluate(
            async ({ url, headers }) => {
              try {
                const response = await fetch(url, { headers })
                return {
                  status: response.status,
                  resource: ((await response.json()) as { resource: string }).resource,
                }
              } catch (error) {
                return { error: String(error) }
              }
            },
            { url, headers },
          )
          t.same(
            answer,
            { status: 200, resource: notes.resource },
            `${url} with ${Object.keys(headers).join(', ')}`,
          )
        }
      }
    })
  },
)

t.test('MCP Inspector 2.x: sign-in, tool calls, step-up with the union of scopes', async (t) => {
  const version = installedVersion('@modelcontextprotocol/inspector')
  t.match(version, /^2\./, 'a 2.x Inspector')
  const url = await startInspectorWeb(t, notes.resource)

  const signIn = async (page: Page, user: string) => {
    await page.waitForURL(/\/interaction\//, { timeout: 60_000 })
    const consent = await page.locator('body').textContent()
    await page.locator('input[name="login"], input').first().fill(user)
    await page.getByRole('button', { name: /Sign in/ }).click()
    await page.waitForURL((target) => target.href.startsWith(new URL(url).origin), { timeout: 60_000 })
    return consent
  }

  await onPage('inspector', async (page) => {
    await page.goto(url)
    await page.getByRole('switch').first().click({ force: true })
    const firstConsent = await signIn(page, 'alice')
    t.match(firstConsent, /notes:read/, 'the first authorization asks for notes:read')
    await page.getByText('Connected', { exact: true }).first().waitFor({ timeout: 60_000 })
    t.pass('first contact: connected after sign-in')

    await page.locator('label[for$="-Tools"]').first().click()
    await page.getByText('Tools (4)').waitFor({ timeout: 30_000 })
    t.pass('every notes tool is listed to a notes:read token: step-up stays reachable')

    await runTool(page, 'whoami')
    await page
      .getByText(/"sub":\s*"alice"/)
      .first()
      .waitFor({ timeout: 30_000 })
    t.pass('whoami runs with the first token')

    await runTool(page, 'add_note', 'from the browser')
    const dialog = page.getByText('Additional permissions required')
    await dialog.waitFor({ timeout: 60_000 })
    const dialogText = await page.locator('body').textContent()
    t.match(dialogText, /additional scope: notes:write/, 'Inspector read the 403 challenge')
    t.match(dialogText, /union of your previously granted scopes/, 'it re-authorizes with the union')
    await page.getByRole('button', { name: 'Authorize' }).click()
    // The IdP may show its form again or, with its session cookie, answer at once.
    await Promise.race([
      signIn(page, 'alice'),
      page.getByText('Authorization complete').waitFor({ timeout: 60_000 }),
    ])
    await waitUntilReconnected(page, 4)
    await page.locator('label[for$="-Tools"]').first().click()
    await runTool(page, 'add_note', 'from the browser')
    await page
      .getByText(/"text":\s*"from the browser"/)
      .first()
      .waitFor({ timeout: 30_000 })
    t.pass('after the step-up add_note runs')
    await runTool(page, 'whoami')
    await page
      .getByText(/notes:write/)
      .first()
      .waitFor({ timeout: 30_000 })
  })

  recordRow('inspector', {
    client: 'MCP Inspector (web UI, headless Chromium)',
    version,
    firstContact: 'passes: DCR, sign-in form, PKCE, token for the resource',
    stepUp: 'passes: shows the challenged scope, re-authorizes with the union (SEP-2350), call then succeeds',
    refresh: 'not exercised (no token expiry in this test)',
    on403: 'asks the user to re-authorize with the union of granted and challenged scopes',
  })
})
