// MCP Inspector 2.x's web UI for the browser tests: started on free loopback ports with its state
// in a throw-away folder, pointed at one MCP server, stopped by its own process id.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { freePort } from '../fixtures/journey-stack.js'
import { packageDir, spawnClient } from './client-stack.js'

const INSPECTOR = join(packageDir('@modelcontextprotocol/inspector'), 'clients/launcher/build/index.js')

/** Starts Inspector's web UI for `serverUrl` (Streamable HTTP); resolves with the URL to open. */
export async function startInspectorWeb(
  t: { teardown(fn: () => unknown): void },
  serverUrl: string,
): Promise<string> {
  const storage = mkdtempSync(join(tmpdir(), 'portcullis-inspector-'))
  t.teardown(() => rmSync(storage, { recursive: true, force: true }))
  const inspector = spawnClient(
    process.execPath,
    [INSPECTOR, '--web', '--transport', 'http', '--server-url', serverUrl],
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
  return url!
}

/** Runs a tool from Inspector's Tools tab, filling its `text` argument when given. */
export async function runTool(page: Page, name: string, text?: string): Promise<void> {
  await page.getByText(name, { exact: true }).first().click()
  if (text !== undefined) await page.getByLabel(/^text/).first().fill(text)
  await page.getByRole('button', { name: 'Execute Tool' }).click()
}

/**
 * Waits until Inspector is back after a sign-in or a step-up: its server card says "Connected",
 * or, when it reopens the tab it was on, the tool list (`toolCount` tools) is shown again.
 */
export async function waitUntilReconnected(page: Page, toolCount: number): Promise<void> {
  await page
    .getByText('Connected', { exact: true })
    .or(page.getByText(`Tools (${toolCount})`))
    .first()
    .waitFor({ timeout: 60_000 })
}
