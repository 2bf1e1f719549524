import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { chromium } from 'playwright-core'
import { validateConfig } from '../../src/config/index.ts'
import { silentLogger, type LocalBroker, type Message } from '../../src/core/index.ts'
import { createDriverHost } from '../../src/drivers/index.ts'
import { createStatusServer, type StatusEvent } from '../../src/status/index.ts'
import { tempDir } from '../helpers/tmp.ts'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** In-process broker stand-in: the drivers publish into it; the page test needs nothing routed. */
function sinkBroker(): LocalBroker & { published: Message[] } {
  const published: Message[] = []
  return {
    published,
    async publish(m) {
      if (published.length < 10_000) published.push(m)
    },
    subscribe: () => () => undefined,
    status: () => ({ health: 'ok', details: { clients: 0, published: published.length } }),
    async close() {},
  }
}

test('the technician page shows live device values and turns a stopped device red within 5 seconds', { timeout: 45_000 }, async () => {
  const config = validateConfig({
    status: { port: 0 },
    devices: [
      { id: 'boiler', driver: 'simulated', poll_interval: 200, seed: 1 },
      { id: 'tank', driver: 'simulated', poll_interval: 200, seed: 2 },
    ],
  })
  const broker = sinkBroker()
  const host = createDriverHost({ devices: config.devices, gatewayId: 'site-7', broker, logger: silentLogger })
  const listeners = new Set<(e: StatusEvent) => void>()
  host.onEvent((e) => {
    const se: StatusEvent = e.type === 'reading' ? e : { type: 'state', source: 'drivers', device: e.device, state: e.state, ...(e.reason ? { reason: e.reason } : {}) }
    for (const l of listeners) l(se)
  })
  const server = createStatusServer({
    config: config.status,
    info: { version: '0.1.0', gatewayId: 'site-7', startedAt: Date.now() },
    sources: () => ({
      broker: broker.status(),
      drivers: host.status(),
      store: { health: 'ok', details: { depth: 0, bytes: 0, max_bytes: config.storage.max_bytes } },
      'uplink:cloud': { health: 'degraded', reason: 'connecting to mqtts://cloud.example:8883', details: { state: 'backoff', backlog: 12, oldestEnqueuedAt: Date.now() - 95_000 } },
    }),
    events: { on: (cb) => (listeners.add(cb), () => listeners.delete(cb)) },
    logger: silentLogger,
  })
  const { port } = await server.listen()
  await host.start()
  const { dir, cleanup } = tempDir('fieldgate-chromium-')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 20_000, env: { ...process.env, HOME: dir } })
  try {
    const page = await browser.newPage({ viewport: { width: 420, height: 1100 } })
    await page.goto(`http://127.0.0.1:${port}/`, { timeout: 10_000 })
    await page.locator('[data-device="boiler"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    await page.locator('[data-device="tank"][data-health="ok"]').waitFor({ timeout: 5000 })
    assert.match(await page.locator('#live').textContent({ timeout: 5000 }) ?? '', /live/)
    assert.match(await page.locator('[data-source="uplink:cloud"]').innerText({ timeout: 5000 }), /backlog\s+12/)

    const driver = host.driver('tank')
    assert.ok(driver)
    await driver.stop()
    const started = Date.now()
    await page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 5000 })
    const waited = Date.now() - started
    assert.ok(waited <= 5000)
    assert.equal(await page.locator('[data-device="boiler"]').getAttribute('data-health'), 'ok', 'the other device stays green')
    assert.match(await page.locator('#recent').innerText(), /tank stopped/)

    mkdirSync(join('test-results'), { recursive: true })
    await page.screenshot({ path: join('test-results', 'status-page.png'), fullPage: true })
  } finally {
    await browser.close()
    await host.stop()
    await server.close()
    cleanup()
  }
})
