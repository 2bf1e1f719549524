import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }
/** Ignored by git (.gitignore): screenshots kept as test artefacts. */
export const RESULTS = join(import.meta.dirname, '../../test-results')

export async function launch(home: string): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 20_000, env: { ...process.env, HOME: home } })
}

/** A page that fails the test on any script error (a broken page must not pass as "nothing shown"). */
export async function openPage(browser: Browser, url: string, viewport = DESKTOP): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(url, { timeout: 10_000 })
  return { page, errors }
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true })
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true })
}

/** The CSS colour of the first element matching `selector`. */
export function colour(page: Page, selector: string): Promise<string> {
  // A string: the test's TypeScript has no DOM library; this runs in the page.
  return page.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).color`) as Promise<string>
}

/** A computed style property of the first element matching `selector`. */
export function style(page: Page, selector: string, prop: string): Promise<string> {
  return page.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).${prop}`) as Promise<string>
}

/** An attribute of every element matching `selector`, in document order. */
export function attributes(page: Page, selector: string, name: string): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.getAttribute(${JSON.stringify(name)}))`) as Promise<string[]>
}

export const AMBER = 'rgb(161, 92, 0)'
export const RED = 'rgb(198, 40, 40)'

/** True when nothing on the page is wider than the viewport (no sideways scrolling on a phone). */
export function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate('document.documentElement.scrollWidth <= window.innerWidth') as Promise<boolean>
}
