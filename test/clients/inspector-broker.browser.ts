// MCP Inspector 2.x (its web UI) in Debian's headless chromium, signing in THROUGH the broker: the
// notes server's only authorization server is @portcullis/authorization-server, whose upstream is
// the dev IdP with registration off (as an organisation's IdP without DCR or CIMD). Inspector
// registers with the broker, the user signs in on the upstream's form, approves the broker's
// consent page, and the tools run with a broker-issued token; step-up asks for notes:write only.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import t from 'tap'
import { startBrokerStack } from '../fixtures/broker-stack.js'
import { freePort } from '../fixtures/journey-stack.js'
import { installedVersion, packageDir, RESULTS_DIR, spawnClient } from './client-stack.js'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const INSPECTOR = join(packageDir('@modelcontextprotocol/inspector'), 'clients/launcher/build/index.js')

// The upstream shows its sign-in form (a person at the organisation's IdP), on `localhost`.
const stack = await startBrokerStack(t, { idp: { login: 'form' } })

const profile = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'))
t.teardown(() => rmSync(profile, { recursive: true, force: true }))
const browser: BrowserContext = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: FLAGS,
})
t.teardown(() => browser.close())

/** Runs `steps` on a fresh page; on failure keeps a screenshot next to the results and rethrows. */
async function onPage<T>(name: string, steps: (page: Page) => Promise<T>): Promise<T> {
  const page = await browser.newPage()
  try {
    return await steps(page)
  } catch (error) {
    mkdirSync(RESULTS_DIR, { recursive: true })
    const shot = join(RESULTS_DIR, `${name}-failure.png`)
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {})
    throw new Error(`${(error as Error).message}\n(screenshot: ${shot}; page: ${page.url()})`, {
      cause: error,
    })
  } finally {
    await page.close()
  }
}

t.test('MCP Inspector 2.x signs in through the broker and calls the tools', async (t) => {
  t.match(installedVersion('@modelcontextprotocol/inspector'), /^2\./, 'a 2.x Inspector')
  const storage = mkdtempSync(join(tmpdir(), 'portcullis-inspector-'))
  t.teardown(() => rmSync(storage, { recursive: true, force: true }))
  const inspector = spawnClient(
    process.execPath,
    [INSPECTOR, '--web', '--transport', 'http', '--server-url', stack.resource],
    {
      CLIENT_PORT: String(await freePort()),
      MCP_SANDBOX_PORT: String(await freePort()),
      MCP_AUTO_OPEN_ENABLED: 'false',
      MCP_INSPECTOR_SECRET_STORE: 'memory',
      MCP_STORAGE_DIR: storage,
      HOME: storage,
    },
  )
  t.teardown(() => inspector.stop())
  const [url] = await inspector.waitFor(/http:\/\/127\.0\.0\.1:\d+\/?\?MCP_INSPECTOR_API_TOKEN=[0-9a-f]+/)
  const inspectorOrigin = new URL(url!).origin
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
  const runTool = async (page: Page, name: string, text?: string) => {
    await page.getByText(name, { exact: true }).first().click()
    if (text !== undefined) await page.getByLabel(/^text/).first().fill(text)
    await page.getByRole('button', { name: 'Execute Tool' }).click()
  }

  await onPage('inspector-broker', async (page) => {
    const upstreamRequests: string[] = []
    page.on('request', (request) => {
      if (new URL(request.url()).origin === upstreamOrigin) upstreamRequests.push(request.url())
    })
    await page.goto(url!)
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
    await page.getByText('Connected', { exact: true }).first().waitFor({ timeout: 60_000 })
    await page.locator('label[for$="-Tools"]').first().click()
    await runTool(page, 'add_note', 'through the broker')
    await page
      .getByText(/"text":\s*"through the broker"/)
      .first()
      .waitFor({ timeout: 30_000 })
    t.pass('after the step-up add_note runs')
  })
})
