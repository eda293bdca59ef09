import type { Page } from 'playwright-core'
import t from 'tap'
import { startBrokerStack } from '../fixtures/broker-stack.js'
import { launchChromium } from './chromium.js'
import { installedVersion } from './client-stack.js'
import { runTool, startInspectorWeb, waitUntilReconnected } from './inspector-web.js'

// The upstream shows its sign-in form (a person at the organisation's IdP), on `localhost`.
const stack = await startBrokerStack(t, { idp: { login: 'form' } })

const { onPage } = await launchChromium(t)

t.test('MCP Inspector 2.x signs in through the broker and calls the tools', async (t) => {
  t.match(installedVersion('@modelcontextprotocol/inspector'), /^2\./, 'a 2.x Inspector')
  const url = await startInspectorWeb(t, stack.resource)
  const inspectorOrigin = new URL(url).origin
  const upstreamOrigin = new URL(stack.idp.issuer).origin

  /** The upstream's form (when its session is not remembered), then the broker's consent page. */
  const signInAndConsent = async (page: Page, user: string) => {
    await page.waitForURL(
      (target) => target.origin === upstreamOrigin || target.pathname.startsWith('/interaction/'),
      { timeout: 60_000 },
    )
    const seen: string[] = []
    if (new URL(page.url()).origin === upstreamOrigin) {
      seen.push(page.url())
      await page.locator('input[name="login"], input').first().fill(user)
      await page.getByRole('button', { name: /Sign in/ }).click()
    }
    // Back at the broker: its consent page, served from the MCP server's origin.
    await page.waitForURL((target) => target.origin === stack.origin, { timeout: 60_000 })
    await page.getByRole('button', { name: 'Allow' }).waitFor({ timeout: 60_000 })
    const consent = (await page.locator('body').textContent()) ?? ''
    seen.push(page.url())
    await page.getByRole('button', { name: 'Allow' }).click()
    await page.waitForURL((target) => target.origin === inspectorOrigin, { timeout: 60_000 })
    return { consent, seen }
  }

  await onPage('inspector-broker', async (page) => {
    const upstreamRequests: string[] = []
    page.on('request', (request) => {
      if (new URL(request.url()).origin === upstreamOrigin) upstreamRequests.push(request.url())
    })
    await page.goto(url)
    await page.getByRole('switch').first().click({ force: true })
    const first = await signInAndConsent(page, 'alice')
    t.match(first.seen[0], `${upstreamOrigin}/`, 'the browser went to the upstream IdP to sign in')
    t.match(first.consent, /Allow access\?/, 'the broker asked for consent')
    t.match(first.consent, /notes:read/, 'for notes:read')
    t.match(
      first.consent,
      new RegExp(`Returns to\\s*${new URL(inspectorOrigin).host}`),
      'naming Inspector’s host',
    )
    await page.getByText('Connected', { exact: true }).first().waitFor({ timeout: 60_000 })
    t.pass('connected after sign-in through the broker')
    t.notOk(
      upstreamRequests.some((request) => /\/register\b/.test(request)),
      'Inspector never tried to register at the upstream',
    )

    await page.locator('label[for$="-Tools"]').first().click()
    await page.getByText('Tools (4)').waitFor({ timeout: 30_000 })
    await runTool(page, 'whoami')
    // The endpoint verifies with the broker's keys only, so a call that runs holds a broker token.
    await page
      .getByText(/"sub":\s*"alice"/)
      .first()
      .waitFor({ timeout: 30_000 })
    const whoami = (await page.locator('body').textContent()) ?? ''
    t.match(whoami, /notes:read/, 'whoami runs with a notes:read token')
    t.notMatch(whoami, /notes:write/, 'and no write scope yet')
    t.notMatch(
      whoami,
      /"client":\s*"mcp-broker"/,
      'for Inspector’s client at the broker, not the broker’s upstream client',
    )

    await runTool(page, 'add_note', 'through the broker')
    await page.getByText('Additional permissions required').waitFor({ timeout: 60_000 })
    const dialog = (await page.locator('body').textContent()) ?? ''
    t.match(dialog, /additional scope: notes:write/, 'Inspector read the 403 challenge')
    await page.getByRole('button', { name: 'Authorize' }).click()
    // The upstream remembers alice (its session cookie): the broker asks consent for the new scope.
    const second = await signInAndConsent(page, 'alice')
    t.match(second.consent, /notes:write/, 'the step-up consent asks for notes:write')
    await waitUntilReconnected(page, 4)
    await page.locator('label[for$="-Tools"]').first().click()
    await runTool(page, 'add_note', 'through the broker')
    await page
      .getByText(/"text":\s*"through the broker"/)
      .first()
      .waitFor({ timeout: 30_000 })
    t.pass('after the step-up add_note runs')
  })
})
