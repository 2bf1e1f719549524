import assert from 'node:assert/strict'
import { test } from 'node:test'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { attributes, launch, openPage, PHONE } from './browser.ts'
import { eventSource, startServer } from './helpers.ts'

test('a live reading redraws its point\'s sparkline and value; the other points\' sparklines stay as they were', { timeout: 60_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({ events })
  const { dir, cleanup } = tempDir('fieldgate-page-live-')
  const browser = await launch(dir)
  try {
    const now = Date.now()
    events.emit({ type: 'state', source: 'drivers', device: 'tank', state: 'running' })
    for (let i = 0; i < 10; i++) {
      for (const point of ['level', 'temp']) events.emit({ type: 'reading', reading: { device: 'tank', point, value: point === 'level' ? i : 20 + (i % 3), unit: point === 'level' ? 'cm' : '°C', ts: now - (9 - i) * 60_000, quality: 'good' } })
    }
    const { page, errors } = await openPage(browser, url('/'), PHONE)
    const paths = (): Promise<string[]> => attributes(page, '[data-device="tank"] td.spark path', 'd')
    await page.locator('[data-device="tank"] tr[data-point="level"] td.spark path').waitFor({ timeout: 10_000 })
    await page.locator('[data-device="tank"] tr[data-point="temp"] td.spark path').waitFor({ timeout: 10_000 })
    const [level0, temp0] = await paths()
    // Read once a minute, one 20 s bucket in three: still a line through its ten values, not a dot.
    assert.equal(level0?.match(/L/g)?.length, 9, level0)
    // The newest bucket's value changes from 9 to 50: the line's last point moves up.
    events.emit({ type: 'reading', reading: { device: 'tank', point: 'level', value: 50, unit: 'cm', ts: Date.now(), quality: 'good' } })
    await waitFor(async () => /^50 cm$/.test(await page.locator('[data-device="tank"] tr[data-point="level"] td.v').innerText()), 5000, 50, 'the new value')
    const [level1, temp1] = await waitFor(async () => {
      const p = await paths()
      return p[0] !== level0 ? p : null
    }, 5000, 50, 'the level sparkline redrawn')
    assert.notEqual(level1, level0)
    assert.equal(temp1, temp0, 'a point without a new reading keeps its sparkline')
    // A failed read (Modbus and serial send 0): "read failed" with the last good value and its age; the sparkline does not dip to 0.
    const age = await page.locator('[data-device="tank"] tr[data-point="level"] td.age').getAttribute('data-ts')
    events.emit({ type: 'reading', reading: { device: 'tank', point: 'level', value: 0, unit: 'cm', ts: Date.now() + 1000, quality: 'error', error: 'timeout' } })
    await waitFor(async () => /^read failed \(last 50 cm\)$/.test(await page.locator('[data-device="tank"] tr[data-point="level"] td.v').innerText()), 5000, 50, 'read failed (last 50 cm)')
    assert.equal(await page.locator('[data-device="tank"] tr[data-point="level"] td.age').getAttribute('data-ts'), age, 'the age is the last good value\'s')
    assert.equal((await paths())[0], level1, 'no 0 drawn into the sparkline')
    assert.deepEqual(errors, [])
  } finally {
    await browser.close()
    await server.close()
    cleanup()
  }
})

test('a failed read that arrives before the first /status still shows the last good value, then and on every later failed read', { timeout: 60_000 }, async () => {
  const events = eventSource()
  const t0 = Date.now() - 10_000
  // The drivers' own report: the point's last good value is 50 cm, and its reads now fail.
  const drivers = { health: 'degraded' as const, details: { devices: { tank: { driver: 'modbus', state: 'error', health: 'degraded', reason: 'timeout', points: { level: { value: 50, ts: t0, quality: 'error', error: 'timeout' } } } } } }
  const { server, url } = await startServer({ events, sources: () => ({ drivers }) })
  const { dir, cleanup } = tempDir('fieldgate-page-first-')
  const browser = await launch(dir)
  try {
    const page = await browser.newPage({ viewport: PHONE, hasTouch: true })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    // Hold the page's first /status until a failed read has reached it over the event stream.
    let release = (): void => undefined
    const held = new Promise<void>((r) => (release = r))
    let asked = 0
    await page.route('**/status', async (route) => {
      if (asked++ === 0) await held
      await route.continue()
    })
    await page.goto(url('/'), { timeout: 10_000 })
    await waitFor(async () => events.listeners() > 0 && asked > 0, 10_000, 50, 'the page is on the event stream and has asked for /status')
    const failed = (error: string): void => events.emit({ type: 'reading', reading: { device: 'tank', point: 'level', value: 0, unit: 'cm', ts: Date.now(), quality: 'error', error } })
    failed('timeout')
    await page.locator('[data-device="tank"] tr[data-point="level"] td.v').waitFor({ timeout: 10_000 })
    release()
    const cell = page.locator('[data-device="tank"] tr[data-point="level"] td.v')
    await waitFor(async () => /^read failed \(last 50 cm\)$/.test(await cell.innerText()), 5000, 50, 'the last good value once /status has come')
    // The next failed reads (a poll later) keep it: the live point had no value to carry forward.
    for (let i = 1; i <= 3; i++) {
      failed(`timeout ${i}`)
      await cell.locator(`span[title="timeout ${i}"]`).waitFor({ timeout: 5000 })
      assert.equal(await cell.innerText(), 'read failed (last 50 cm)')
    }
    assert.deepEqual(errors, [])
  } finally {
    await browser.close()
    await server.close()
    cleanup()
  }
})
