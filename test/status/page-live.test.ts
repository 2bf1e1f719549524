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
