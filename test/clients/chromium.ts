// Debian's chromium, headless, for the browser tests: one fresh profile per test file, and pages
// that leave a screenshot next to the client results when a step fails.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { RESULTS_DIR } from './client-stack.js'

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

export interface Chromium {
  context: BrowserContext
  /** Runs `steps` on a fresh page; on failure keeps a screenshot `<name>-failure.png` and rethrows. */
  onPage<T>(name: string, steps: (page: Page) => Promise<T>): Promise<T>
}

/** Launches chromium with a throw-away profile; closed and removed by `t.teardown`. */
export async function launchChromium(t: { teardown(fn: () => unknown): void }): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'))
  t.teardown(() => rmSync(profile, { recursive: true, force: true }))
  // launchPersistentContext is how playwright takes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  })
  t.teardown(() => context.close())
  return {
    context,
    async onPage(name, steps) {
      const page = await context.newPage()
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
    },
  }
}
