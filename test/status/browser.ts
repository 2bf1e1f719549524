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
  // A phone is tapped, not clicked: touch on for phone widths so tests can tap().
  const page = await browser.newPage({ viewport, hasTouch: viewport.width < 600 })
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

/**
 * Places where a line wraps between two letters or digits inside one text (a port split as "242" /
 * "83", a word cut in two), each as "before|after". Hyphens, slashes, colons and spaces are fair
 * places to wrap; the page gives addresses such chances so a phone never needs to cut a word.
 */
export function midWordBreaks(page: Page): Promise<string[]> {
  return page.evaluate(`(function () {
    var out = [], range = document.createRange(), walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), n;
    while ((n = walker.nextNode())) {
      var t = n.data, prevTop = null;
      if (t.trim().length < 2) continue;
      for (var i = 0; i < t.length; i++) {
        range.setStart(n, i); range.setEnd(n, i + 1);
        var rects = range.getClientRects();
        if (!rects.length) { prevTop = null; continue; }
        var top = rects[0].top;
        if (prevTop !== null && top > prevTop + 2 && /[A-Za-z0-9]/.test(t[i - 1]) && /[A-Za-z0-9]/.test(t[i])) out.push(t.slice(Math.max(0, i - 10), i) + "|" + t.slice(i, i + 10));
        prevTop = top;
      }
    }
    return out;
  })()`) as Promise<string[]>
}
